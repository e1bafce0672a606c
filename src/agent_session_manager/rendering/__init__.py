"""Rendering: turning stored events into text for people (terminal tokens, verbose lines).

A renderer is a small stateful object with ``render(event) -> str`` and ``finish() -> str``; it
only formats. It never reads a store, talks to a provider or writes anywhere itself: the caller
decides where the text goes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from agent_session_manager.core.events import Event
from agent_session_manager.rendering.compact import CompactRenderer
from agent_session_manager.rendering.verbose import VerboseRenderer


@runtime_checkable
class Renderer(Protocol):
    """Formats events one at a time; ``finish`` returns any closing text."""

    def render(self, event: Event) -> str: ...

    def finish(self) -> str: ...


__all__ = ["CompactRenderer", "Renderer", "VerboseRenderer"]
