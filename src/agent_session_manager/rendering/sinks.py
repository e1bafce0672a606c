"""Sinks: where rendered text and events go (a terminal, a text file, a JSONL file, a callback).

A sink receives every event with the text a renderer made of it (:meth:`Sink.write_event`), the
renderer's closing text (:meth:`Sink.write`), then :meth:`Sink.flush` and :meth:`Sink.close`.
Sinks write small pieces synchronously to an already-open stream or file; they never read a
store or talk to a provider, and a failing sink is the pipeline's business
(:mod:`agent_session_manager.rendering.pipeline`), not theirs.

JSONL formats (:class:`JSONLSink`):

* ``full`` — each line is exactly ``Event.to_dict()`` of the stored event, the same JSON the
  stores hold and ``asm run --format jsonl`` prints.
* ``compact`` — one short object per event for dashboards and logs: ``s`` sequence number,
  ``ts`` event time in epoch milliseconds, ``t`` the type abbreviated (``rs`` run_started,
  ``ms`` message_sent, ``st`` message_streamed, ``mr`` message_received, ``ts``
  tool_call_started, ``tc`` tool_call_completed, ``tf`` tool_call_failed, ``tu``
  token_usage_updated, ``tn`` turn_completed, ``rc`` run_completed, ``rf`` run_failed, ``rx``
  run_cancelled, ``rt`` run_timed_out, ``er`` error_occurred; other types keep their name),
  ``r`` the run id when there is one, plus per type: ``m`` short model (rs), ``l`` length in
  characters of the text or tool output (ms, st, mr, tc), ``n`` tool name (ts, tc, tf), ``i``/``o``
  input/output tokens and ``$`` cost in USD (tu, rc), ``sr`` short stop reason (rc), ``x`` error
  message or cancel reason cut to 120 characters (tf, rf, rx, er).
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any, Literal, Protocol, runtime_checkable

import orjson

from agent_session_manager.core.errors import ValidationError
from agent_session_manager.core.events import Event, EventType
from agent_session_manager.rendering._text import (
    number,
    preview,
    short_model,
    short_reason,
    text_field,
    to_text,
)

__all__ = [
    "CallbackSink",
    "FileSink",
    "JSONLSink",
    "Sink",
    "TTYSink",
    "compact_record",
    "strip_ansi",
]

_ANSI = re.compile(r"\x1b\[[0-9;]*[mABCDHJK]")
_LONE_CR = re.compile(r"\r(?!\n)")


@runtime_checkable
class Sink(Protocol):
    """Receives rendered text and events; see the module docstring for the call order."""

    async def write_event(self, event: Event, text: str) -> None: ...

    async def write(self, text: str) -> None: ...

    async def flush(self) -> None: ...

    async def close(self) -> None: ...


def strip_ansi(text: str) -> str:
    """``text`` without ANSI colour/cursor sequences and without lone carriage returns."""
    return _LONE_CR.sub("", _ANSI.sub("", text))


class _StreamSink:
    """Shared plumbing: a text stream given by the caller (kept open) or a path (owned)."""

    def __init__(self, path: str | Path | None, stream: IO[str] | None, append: bool) -> None:
        if stream is not None and path is None:
            self._owned = False
            self._stream: IO[str] = stream
        elif path is not None and stream is None:
            self._owned = True
            self._stream = open(path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115
        else:
            raise ValidationError(f"{type(self).__name__} needs exactly one of path or stream")

    async def flush(self) -> None:
        self._stream.flush()

    async def close(self) -> None:
        if self._owned:
            if not self._stream.closed:
                self._stream.close()
        else:
            self._stream.flush()


class TTYSink:
    """Writes rendered text to a terminal stream (``sys.stdout`` by default), as it comes."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream

    @property
    def stream(self) -> IO[str]:
        return self._stream if self._stream is not None else sys.stdout

    async def write_event(self, event: Event, text: str) -> None:
        if text:
            self.stream.write(text)
            self.stream.flush()

    async def write(self, text: str) -> None:
        if text:
            self.stream.write(text)

    async def flush(self) -> None:
        self.stream.flush()

    async def close(self) -> None:
        self.stream.flush()


class FileSink(_StreamSink):
    """Writes rendered text to a file (``path``, truncated unless ``append``) or an open text
    ``stream`` (left open), with ANSI sequences and lone carriage returns stripped."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        stream: IO[str] | None = None,
        append: bool = False,
    ) -> None:
        super().__init__(path, stream, append)

    async def write_event(self, event: Event, text: str) -> None:
        if text:
            self._stream.write(strip_ansi(text))

    async def write(self, text: str) -> None:
        if text:
            self._stream.write(strip_ansi(text))


class JSONLSink(_StreamSink):
    """One JSON object per event per line (``mode="full"`` or ``"compact"``, see the module
    docstring); rendered text is ignored."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        stream: IO[str] | None = None,
        mode: Literal["full", "compact"] = "full",
        append: bool = False,
    ) -> None:
        if mode not in ("full", "compact"):
            raise ValidationError(f"JSONLSink mode must be 'full' or 'compact', got {mode!r}")
        super().__init__(path, stream, append)
        self.mode = mode

    async def write_event(self, event: Event, text: str) -> None:
        record = event.to_dict() if self.mode == "full" else compact_record(event)
        self._stream.write(orjson.dumps(record).decode() + "\n")

    async def write(self, text: str) -> None:
        return None


class CallbackSink:
    """Calls ``callback(event, text)`` (sync or async) for every event."""

    def __init__(self, callback: Callable[[Event, str], Awaitable[None] | None]) -> None:
        self._callback = callback

    async def write_event(self, event: Event, text: str) -> None:
        result = self._callback(event, text)
        if inspect.isawaitable(result):
            await result

    async def write(self, text: str) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None


_ABBREVIATIONS: dict[str, str] = {
    EventType.RUN_STARTED: "rs",
    EventType.MESSAGE_SENT: "ms",
    EventType.MESSAGE_STREAMED: "st",
    EventType.MESSAGE_RECEIVED: "mr",
    EventType.TOOL_CALL_STARTED: "ts",
    EventType.TOOL_CALL_COMPLETED: "tc",
    EventType.TOOL_CALL_FAILED: "tf",
    EventType.TOKEN_USAGE_UPDATED: "tu",
    EventType.TURN_COMPLETED: "tn",
    EventType.RUN_COMPLETED: "rc",
    EventType.RUN_FAILED: "rf",
    EventType.RUN_CANCELLED: "rx",
    EventType.RUN_TIMED_OUT: "rt",
    EventType.ERROR_OCCURRED: "er",
}


def compact_record(event: Event) -> dict[str, Any]:
    """The compact JSONL object of ``event`` (documented in the module docstring)."""
    kind = event.type
    data: Any = event.data if isinstance(event.data, dict) else {}
    abbrev = _ABBREVIATIONS.get(kind, kind)
    out: dict[str, Any] = {
        "s": event.sequence_number,
        "ts": int(event.timestamp.timestamp() * 1000),
        "t": abbrev,
    }
    if event.run_id:
        out["r"] = event.run_id
    if abbrev == "rs":
        model = text_field(data, "model")
        if model:
            out["m"] = short_model(model)
    elif abbrev in ("ms", "mr"):
        out["l"] = len(text_field(data, "content"))
    elif abbrev == "st":
        out["l"] = len(text_field(data, "delta", "content"))
    elif abbrev in ("ts", "tc", "tf"):
        out["n"] = text_field(data, "tool_name", "name") or "unknown"
        if abbrev == "tc":
            output = data.get("tool_output")
            out["l"] = 0 if output is None else len(to_text(output))
        elif abbrev == "tf":
            out["x"] = preview(text_field(data, "error_message"), 120)
    elif abbrev in ("tu", "rc"):
        usage = data.get("token_usage") if abbrev == "rc" else data
        if isinstance(usage, dict):
            for key, short in (("input_tokens", "i"), ("output_tokens", "o")):
                value = number(usage.get(key))
                if value is not None:
                    out[short] = value
        if abbrev == "rc":
            out["sr"] = short_reason(text_field(data, "stop_reason") or "end_turn")
        cost = number(data.get("cost_usd"))
        if cost is not None:
            out["$"] = cost
    elif abbrev in ("rf", "er"):
        out["x"] = preview(text_field(data, "error_message") or "unknown error", 120)
    elif abbrev == "rx":
        out["x"] = preview(text_field(data, "reason") or "cancelled", 120)
    return out
