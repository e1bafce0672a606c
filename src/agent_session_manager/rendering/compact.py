"""The compact renderer: a session's events as short one-line tokens, for a terminal.

``r+ sonnet-4-5 >> streamed text…`` then ``t+bash t-bash tr:<output preview> tk:120/45 r-:end``:
each event becomes a token (streamed text is written as it arrives), optionally coloured with
ANSI codes. Works on stored :class:`~agent_session_manager.core.events.Event` values and copes
with any data in them (a dict or list tool output is shown as a compact JSON preview; missing or
mistyped keys fall back to placeholders), so rendering never fails. It knows nothing about
stores, providers or where the text is written.
"""

from __future__ import annotations

from typing import Any

from agent_session_manager.core.events import TERMINAL_RUN_EVENTS, Event, EventType
from agent_session_manager.rendering._text import (
    BLUE,
    DIM,
    GREEN,
    MAGENTA,
    RED,
    number,
    plural,
    preview,
    sanitize,
    short_model,
    short_reason,
    style,
    text_field,
)

__all__ = ["PREVIEW_CHARS", "CompactRenderer"]

#: Characters of a preview (message content, tool output, error message).
PREVIEW_CHARS = 120

_SESSION_TOKENS: dict[str, str] = {
    EventType.SESSION_CREATED: "s+",
    EventType.SESSION_STARTED: "s>",
    EventType.SESSION_PAUSED: "s=",
    EventType.SESSION_RESUMED: "s>",
    EventType.SESSION_COMPLETED: "s-",
    EventType.SESSION_FAILED: "s-:failed",
    EventType.SESSION_CANCELLED: "s-:cancelled",
}


class CompactRenderer:
    """Turns events into compact terminal text; one instance per output stream.

    :meth:`render` returns the text for one event (possibly ``""``) and :meth:`finish` the
    closing text (``"<N> events, <M> tools"``). Tokens share a line, separated by spaces;
    streamed text, a new run, the end of a turn and whatever follows a finished run start new
    lines.
    """

    def __init__(self, color: bool = False) -> None:
        self.color = color
        self.event_count = 0
        self.tool_count = 0
        self._streaming = False
        self._line_open = False
        self._streamed_message = False
        self._run_ended = False

    # -- public -----------------------------------------------------------------------------
    def render(self, event: Event) -> str:
        """The text for ``event`` (never raises: unexpected data renders as ``?<type>``)."""
        self.event_count += 1
        try:
            return self._render(event)
        except Exception:
            kind = preview(getattr(event, "type", ""), 60)
            return self._token(self._dim("?" + kind))

    def finish(self) -> str:
        """Close the current line and return the ``"N events, M tools"`` summary line."""
        out = self._end_line()
        summary = f"{plural(self.event_count, 'event')}, {plural(self.tool_count, 'tool')}"
        return out + self._dim(summary) + "\n"

    # -- per type ---------------------------------------------------------------------------
    def _render(self, event: Event) -> str:
        kind = event.type
        data: Any = event.data if isinstance(event.data, dict) else {}
        prefix = ""
        if self._run_ended and kind not in _SESSION_TOKENS:
            # What follows a finished run (the next run's input) starts a new line.
            self._run_ended = False
            prefix = self._end_line()
        if kind in TERMINAL_RUN_EVENTS:
            self._run_ended = True
        return prefix + self._by_type(kind, data)

    def _by_type(self, kind: str, data: Any) -> str:
        if kind == EventType.MESSAGE_STREAMED:
            return self._stream(sanitize(text_field(data, "delta", "content")))
        if kind == EventType.RUN_STARTED:
            self._streamed_message = False
            out = self._end_line() + self._token(self._paint("r+", BLUE))
            model = text_field(data, "model")
            if model:
                out += " " + self._paint(preview(short_model(model), 60), MAGENTA)
            return out
        if kind == EventType.MESSAGE_RECEIVED:
            if self._streamed_message:
                # Its text was just streamed; only the line break marks the message's end.
                self._streamed_message = False
                return self._end_stream()
            content = preview(text_field(data, "content"), PREVIEW_CHARS)
            return self._token(self._paint("msg", BLUE) + self._suffix(content))
        if kind == EventType.MESSAGE_SENT:
            content = preview(text_field(data, "content"), PREVIEW_CHARS)
            return self._token(self._paint("<<", BLUE) + self._suffix(content))
        if kind == EventType.TOOL_CALL_STARTED:
            self.tool_count += 1
            return self._token(self._paint("t+" + self._tool_name(data), GREEN))
        if kind == EventType.TOOL_CALL_COMPLETED:
            out = self._paint("t-" + self._tool_name(data), GREEN)
            output = data.get("tool_output")
            if output is not None and output != "":
                out += " " + self._paint("tr:", GREEN) + self._dim(preview(output, PREVIEW_CHARS))
            return self._token(out)
        if kind == EventType.TOOL_CALL_FAILED:
            message = preview(text_field(data, "error_message") or "failed", PREVIEW_CHARS)
            return self._token(
                self._paint("t!" + self._tool_name(data), RED) + self._suffix(message)
            )
        if kind == EventType.TOKEN_USAGE_UPDATED:
            tokens = f"tk:{_count(data.get('input_tokens'))}/{_count(data.get('output_tokens'))}"
            return self._token(self._dim(tokens) + self._cost(data))
        if kind == EventType.TURN_COMPLETED:
            return self._end_line()
        if kind == EventType.RUN_COMPLETED:
            reason = text_field(data, "stop_reason")
            label = "r-:" + preview(short_reason(reason), 40) if reason else "r-"
            return self._token(self._paint(label, BLUE) + self._cost(data))
        if kind in (EventType.RUN_FAILED, EventType.ERROR_OCCURRED):
            message = text_field(data, "error_message") or "unknown error"
            return self._error(preview(message, PREVIEW_CHARS))
        if kind == EventType.RUN_CANCELLED:
            reason = preview(text_field(data, "reason"), PREVIEW_CHARS)
            return self._error(f"cancelled: {reason}" if reason else "cancelled")
        if kind == EventType.RUN_TIMED_OUT:
            seconds = number(data.get("timeout_s"))
            return self._error(f"timed out after {seconds:g}s" if seconds else "timed out")
        token = _SESSION_TOKENS.get(kind)
        if token is not None:
            return self._token(self._dim(token))
        return self._token(self._dim("?" + preview(kind, 60)))

    # -- pieces -----------------------------------------------------------------------------
    def _stream(self, text: str) -> str:
        self._streamed_message = True
        if self._streaming:
            out = text
        else:
            out = (" " if self._line_open else "") + self._paint(">>", MAGENTA) + " " + text
            self._streaming = True
        if out:
            self._line_open = not out.endswith("\n")
        return out

    def _token(self, text: str) -> str:
        out = self._end_stream()
        if self._line_open:
            out += " "
        self._line_open = True
        return out + text

    def _end_stream(self) -> str:
        if not self._streaming:
            return ""
        self._streaming = False
        return self._end_line()

    def _end_line(self) -> str:
        self._streaming = False
        if self._line_open:
            self._line_open = False
            return "\n"
        return ""

    def _error(self, message: str) -> str:
        return self._token(self._paint("!", RED) + " " + self._dim(message))

    def _tool_name(self, data: Any) -> str:
        return preview(text_field(data, "tool_name", "name") or "unknown", 60)

    def _cost(self, data: Any) -> str:
        cost = number(data.get("cost_usd")) if isinstance(data, dict) else None
        return " " + self._dim(f"${cost:.4f}") if cost else ""

    def _suffix(self, text: str) -> str:
        return " " + self._dim(text) if text else ""

    def _paint(self, text: str, code: str) -> str:
        return style(text, code, color=self.color)

    def _dim(self, text: str) -> str:
        return style(text, DIM, color=self.color)


def _count(value: Any) -> str:
    found = number(value)
    return "?" if found is None else f"{found:g}"
