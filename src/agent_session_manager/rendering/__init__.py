"""Rendering: turning stored events into text for people and files (terminal tokens, verbose
lines, JSONL), and sending it to sinks.

A renderer is a small stateful object with ``render(event) -> str`` and ``finish() -> str``; it
only formats. Sinks decide where text and events go; :func:`render_events` and
:class:`RenderPipeline` connect one renderer to many sinks and contain their failures. Nothing
here reads a store or talks to a provider.
"""

from __future__ import annotations

from agent_session_manager.rendering.compact import CompactRenderer
from agent_session_manager.rendering.passthrough import PassthroughRenderer
from agent_session_manager.rendering.pipeline import RenderPipeline, RenderSummary, render_events
from agent_session_manager.rendering.protocol import Renderer
from agent_session_manager.rendering.sinks import (
    CallbackSink,
    FileSink,
    JSONLSink,
    Sink,
    TTYSink,
    compact_record,
    strip_ansi,
)
from agent_session_manager.rendering.verbose import VerboseRenderer

__all__ = [
    "CallbackSink",
    "CompactRenderer",
    "FileSink",
    "JSONLSink",
    "PassthroughRenderer",
    "RenderPipeline",
    "RenderSummary",
    "Renderer",
    "Sink",
    "TTYSink",
    "VerboseRenderer",
    "compact_record",
    "render_events",
    "strip_ansi",
]
