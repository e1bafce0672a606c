"""The verbose renderer: one line per event, ``#<seq> <time> [<type>] key=value …``.

Every data key is shown (strings bare when they are simple words, otherwise JSON-quoted; other
values as compact JSON), each cut to a bounded length, so the line stays a line whatever the
payload. Never raises on unexpected data. Knows nothing about stores, providers or where the text
is written.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from agent_session_manager.core.events import Event, EventType
from agent_session_manager.rendering._text import (
    BLUE,
    DIM,
    GREEN,
    RED,
    plural,
    preview,
    sanitize,
    style,
)

__all__ = ["VALUE_CHARS", "VerboseRenderer"]

#: Characters of one value before it is cut.
VALUE_CHARS = 200

_BARE = re.compile(r"[\w.:/@+\-]+")
_RED_TYPES = frozenset(
    {
        EventType.RUN_FAILED,
        EventType.RUN_CANCELLED,
        EventType.RUN_TIMED_OUT,
        EventType.TOOL_CALL_FAILED,
        EventType.ERROR_OCCURRED,
        EventType.SESSION_FAILED,
        EventType.SESSION_CANCELLED,
        EventType.POLICY_VIOLATION,
    }
)


class VerboseRenderer:
    """Turns each event into one line; :meth:`finish` returns ``--- N events, M tools ---``."""

    def __init__(self, color: bool = False) -> None:
        self.color = color
        self.event_count = 0
        self.tool_count = 0

    def render(self, event: Event) -> str:
        """One line (with its newline) describing ``event``; never raises."""
        self.event_count += 1
        try:
            return self._render(event)
        except Exception:
            kind = preview(getattr(event, "type", ""), 60)
            return f"[{kind}] (unrenderable data)\n"

    def finish(self) -> str:
        counts = f"{plural(self.event_count, 'event')}, {plural(self.tool_count, 'tool')}"
        return self._paint(f"--- {counts} ---", DIM) + "\n"

    def _render(self, event: Event) -> str:
        kind = event.type
        if kind == EventType.TOOL_CALL_STARTED:
            self.tool_count += 1
        head = self._paint(f"#{event.sequence_number or '-'}", DIM)
        timestamp = self._paint(event.timestamp.strftime("%H:%M:%S.%f")[:-3], DIM)
        tag = self._paint(f"[{preview(kind, 60)}]", self._tag_colour(kind))
        data = event.data if isinstance(event.data, dict) else {"data": event.data}
        fields = " ".join(f"{preview(key, 60)}={_value(value)}" for key, value in data.items())
        return f"{head} {timestamp} {tag}" + (f" {fields}" if fields else "") + "\n"

    def _tag_colour(self, kind: str) -> str:
        if kind in _RED_TYPES:
            return RED
        if kind.startswith("tool_call"):
            return GREEN
        if kind.startswith(("run_", "session_")):
            return BLUE
        return DIM

    def _paint(self, text: str, code: str) -> str:
        return style(text, code, color=self.color)


def _value(value: Any) -> str:
    if isinstance(value, str):
        text = sanitize(value)
        if _BARE.fullmatch(text):
            return _cut(text)
        return _cut(orjson.dumps(text).decode())  # JSON-quoted: newlines escaped
    return _cut(preview(value, VALUE_CHARS * 2))


def _cut(text: str) -> str:
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + "..."
