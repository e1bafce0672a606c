"""The ``Renderer`` protocol shared by the renderers and the rendering pipeline.

A renderer is a small stateful object with ``render(event) -> str`` and ``finish() -> str``; it
only formats text and never writes anywhere, reads a store or talks to a provider.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from agent_session_manager.core.events import Event

__all__ = ["Renderer"]


@runtime_checkable
class Renderer(Protocol):
    """Formats events one at a time; ``finish`` returns any closing text."""

    def render(self, event: Event) -> str: ...

    def finish(self) -> str: ...
