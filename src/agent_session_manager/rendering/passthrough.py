"""The passthrough renderer: renders nothing, for pipelines whose sinks only want the events
themselves (a JSONL file, a callback). Knows nothing about stores, providers or output."""

from __future__ import annotations

from agent_session_manager.core.events import Event

__all__ = ["PassthroughRenderer"]


class PassthroughRenderer:
    """Counts events and returns ``""`` for each of them and for :meth:`finish`."""

    def __init__(self) -> None:
        self.event_count = 0

    def render(self, event: Event) -> str:
        self.event_count += 1
        return ""

    def finish(self) -> str:
        return ""
