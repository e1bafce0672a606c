"""VerboseRenderer: one line per event with every data key, and a closing count line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agent_session_manager import Event, VerboseRenderer

_T0 = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def _event(seq: int, kind: str, data: dict[str, Any]) -> Event:
    return Event(kind, "ses_1", data, "run_1", timestamp=_T0, sequence_number=seq)


def test_one_line_per_event_golden() -> None:
    renderer = VerboseRenderer()
    events = [
        _event(1, "message_streamed", {"delta": "Hi there\n"}),
        _event(
            2,
            "tool_call_started",
            {"tool_call_id": "c1", "tool_name": "bash", "tool_input": {"command": "ls -la"}},
        ),
        _event(
            3,
            "tool_call_completed",
            {"tool_call_id": "c1", "tool_name": "bash", "tool_output": {"exit": 0, "out": "a"}},
        ),
        _event(4, "run_completed", {"stop_reason": "end_turn", "turn_count": 1}),
    ]
    text = "".join(renderer.render(e) for e in events) + renderer.finish()
    assert text == (
        '#1 03:04:05.678 [message_streamed] delta="Hi there\\n"\n'
        "#2 03:04:05.678 [tool_call_started] tool_call_id=c1 tool_name=bash "
        'tool_input={"command":"ls -la"}\n'
        "#3 03:04:05.678 [tool_call_completed] tool_call_id=c1 tool_name=bash "
        'tool_output={"exit":0,"out":"a"}\n'
        "#4 03:04:05.678 [run_completed] stop_reason=end_turn turn_count=1\n"
        "--- 4 events, 1 tool ---\n"
    )


def test_one_line_per_event_golden_with_colour() -> None:
    d, x, b, g = "\x1b[2m", "\x1b[0m", "\x1b[0;34m", "\x1b[0;32m"
    renderer = VerboseRenderer(color=True)
    events = [
        _event(1, "message_streamed", {"delta": "Hi"}),
        _event(2, "tool_call_started", {"tool_name": "bash"}),
        _event(3, "run_completed", {"stop_reason": "end_turn"}),
    ]
    text = "".join(renderer.render(e) for e in events) + renderer.finish()
    assert text == (
        f"{d}#1{x} {d}03:04:05.678{x} {d}[message_streamed]{x} delta=Hi\n"
        f"{d}#2{x} {d}03:04:05.678{x} {g}[tool_call_started]{x} tool_name=bash\n"
        f"{d}#3{x} {d}03:04:05.678{x} {b}[run_completed]{x} stop_reason=end_turn\n"
        f"{d}--- 3 events, 1 tool ---{x}\n"
    )


def test_colour_marks_the_tag() -> None:
    line = VerboseRenderer(color=True).render(_event(1, "run_failed", {"error_message": "x"}))
    assert "\x1b[0;31m[run_failed]\x1b[0m" in line
    assert line.endswith("\n")


def test_long_values_are_cut() -> None:
    line = VerboseRenderer().render(_event(1, "message_received", {"content": "y" * 1000}))
    assert line.count("\n") == 1
    assert '..."' not in line
    assert line.rstrip("\n").endswith("...")
    assert len(line) < 300
