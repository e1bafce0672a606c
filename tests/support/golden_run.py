"""A fixed run of 17 events (a session, one run with two tool calls) and the text the compact
renderer gives for it, with and without colour: the golden output of the rendering tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

from agent_session_manager import Event

T0 = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def event(seq: int, kind: str, data: Any = None, run_id: str | None = "run_1") -> Event:
    return Event(
        kind,
        "ses_1",
        data if data is not None else {},
        run_id,
        id=f"evt_{seq}",
        timestamp=T0,
        sequence_number=seq,
    )


def golden_events() -> list[Event]:
    specs: list[tuple[str, Any, str | None]] = [
        ("session_created", {"agent_id": "a", "provider": "scripted"}, None),
        ("session_started", {}, None),
        ("message_sent", {"role": "user", "content": "List the\nfiles"}, "run_1"),
        ("run_started", {"model": "claude-sonnet-4-5-20250929"}, "run_1"),
        ("message_streamed", {"delta": "Let me "}, "run_1"),
        ("message_streamed", {"delta": "look."}, "run_1"),
        ("message_received", {"role": "assistant", "content": "Let me look."}, "run_1"),
        (
            "tool_call_started",
            {"tool_call_id": "c1", "tool_name": "bash", "tool_input": {"command": "ls"}},
            "run_1",
        ),
        (
            "tool_call_completed",
            {"tool_call_id": "c1", "tool_name": "bash", "tool_output": "a.txt\nb.txt\n"},
            "run_1",
        ),
        (
            "tool_call_started",
            {"tool_call_id": "c2", "tool_name": "read", "tool_input": {}},
            "run_1",
        ),
        (
            "tool_call_completed",
            {"tool_call_id": "c2", "tool_name": "read", "tool_output": {"lines": 2, "ok": True}},
            "run_1",
        ),
        ("token_usage_updated", {"input_tokens": 120, "output_tokens": 45}, "run_1"),
        ("turn_completed", {"stop_reason": "tool_use"}, "run_1"),
        ("message_received", {"role": "assistant", "content": "Two files."}, "run_1"),
        ("workspace_snapshot_taken", {"phase": "post"}, "run_1"),
        ("run_completed", {"stop_reason": "end_turn", "cost_usd": 0.01234}, "run_1"),
        ("session_completed", {}, None),
    ]
    return [event(i, kind, data, run) for i, (kind, data, run) in enumerate(specs, start=1)]


GOLDEN = (
    "s+ s> << List the files\n"
    "r+ sonnet-4-5 >> Let me look.\n"
    't+bash t-bash tr:a.txt b.txt t+read t-read tr:{"lines":2,"ok":true} tk:120/45\n'
    "msg Two files. ?workspace_snapshot_taken r-:end $0.0123 s-\n"
    "17 events, 2 tools\n"
)

R, G, B, M, D, X = "\x1b[0;31m", "\x1b[0;32m", "\x1b[0;34m", "\x1b[0;35m", "\x1b[2m", "\x1b[0m"

GOLDEN_COLOR = (
    f"{D}s+{X} {D}s>{X} {B}<<{X} {D}List the files{X}\n"
    f"{B}r+{X} {M}sonnet-4-5{X} {M}>>{X} Let me look.\n"
    f"{G}t+bash{X} {G}t-bash{X} {G}tr:{X}{D}a.txt b.txt{X} {G}t+read{X} {G}t-read{X} "
    f'{G}tr:{X}{D}{{"lines":2,"ok":true}}{X} {D}tk:120/45{X}\n'
    f"{B}msg{X} {D}Two files.{X} {D}?workspace_snapshot_taken{X} {B}r-:end{X} {D}$0.0123{X} "
    f"{D}s-{X}\n"
    f"{D}17 events, 2 tools{X}\n"
)


async def aiter_of(events: Iterable[Event]) -> AsyncIterator[Event]:
    """``events`` as the async iterator ``render_events`` reads."""
    for item in events:
        yield item
