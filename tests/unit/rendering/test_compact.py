"""CompactRenderer: golden output for a fixed run, with and without colour, and robustness."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from agent_session_manager.core.events import Event
from agent_session_manager.rendering import CompactRenderer, Renderer, VerboseRenderer

_T0 = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def _event(seq: int, kind: str, data: Any = None, run_id: str | None = "run_1") -> Event:
    return Event(
        kind,
        "ses_1",
        data if data is not None else {},
        run_id,
        id=f"evt_{seq}",
        timestamp=_T0,
        sequence_number=seq,
    )


def _events() -> list[Event]:
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
    return [_event(i, kind, data, run) for i, (kind, data, run) in enumerate(specs, start=1)]


def _render_all(renderer: Renderer, events: list[Event]) -> str:
    return "".join(renderer.render(e) for e in events) + renderer.finish()


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


def test_golden_without_colour() -> None:
    assert _render_all(CompactRenderer(), _events()) == GOLDEN


def test_golden_with_colour() -> None:
    assert _render_all(CompactRenderer(color=True), _events()) == GOLDEN_COLOR


def test_counts_events_and_tools() -> None:
    renderer = CompactRenderer()
    _render_all(renderer, _events())
    assert (renderer.event_count, renderer.tool_count) == (17, 2)


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        ("run_failed", {"error_code": "x", "error_message": "boom"}, "! boom"),
        ("run_failed", {}, "! unknown error"),
        ("error_occurred", {"error_code": "x", "error_message": "warn"}, "! warn"),
        ("run_cancelled", {}, "! cancelled"),
        ("run_cancelled", {"reason": "user"}, "! cancelled: user"),
        ("run_timed_out", {"timeout_s": 0.5}, "! timed out after 0.5s"),
        ("run_completed", {"stop_reason": "tool_use"}, "r-:tool"),
        ("run_completed", {"stop_reason": "MAX_TOKENS"}, "r-:max_tokens"),
        ("run_completed", {}, "r-"),
        ("run_started", {}, "r+"),
        ("run_started", {"model": "anthropic.claude-3-haiku-x"}, "r+ 3-haiku-x"),
        ("tool_call_failed", {"tool_name": "bash", "error_message": "denied"}, "t!bash denied"),
        ("tool_call_started", {}, "t+unknown"),
        ("tool_call_completed", {"tool_name": "x", "tool_output": ""}, "t-x"),
        ("tool_call_completed", {"tool_name": "x", "tool_output": None}, "t-x"),
        ("tool_call_completed", {"tool_name": "x", "tool_output": [1, "a"]}, 't-x tr:[1,"a"]'),
        ("tool_call_completed", {"tool_name": "x", "tool_output": 0}, "t-x tr:0"),
        (
            "token_usage_updated",
            {"input_tokens": 1, "output_tokens": 2, "cost_usd": 1},
            "tk:1/2 $1.0000",
        ),
        ("token_usage_updated", {"input_tokens": "many"}, "tk:?/?"),
        ("message_received", {"content": "hi"}, "msg hi"),
        ("session_paused", {}, "s="),
        ("session_failed", {"error_code": "x", "error_message": "y"}, "s-:failed"),
        ("session_cancelled", {}, "s-:cancelled"),
        ("my.custom", {"anything": 1}, "?my.custom"),
    ],
)
def test_single_tokens(kind: str, data: dict[str, Any], expected: str) -> None:
    assert CompactRenderer().render(_event(1, kind, data)) == expected


def test_long_previews_are_cut_and_flattened() -> None:
    renderer = CompactRenderer()
    text = renderer.render(
        _event(1, "tool_call_completed", {"tool_name": "cat", "tool_output": "line\n" * 100})
    )
    assert "\n" not in text
    assert text.endswith("...")
    assert len(text) == len("t-cat tr:") + 120 + 3


def test_streamed_text_is_raw_and_continues() -> None:
    renderer = CompactRenderer()
    out = renderer.render(_event(1, "message_streamed", {"delta": "Hello"}))
    out += renderer.render(_event(2, "message_streamed", {"delta": ", world\n"}))
    out += renderer.render(_event(3, "message_streamed", {"delta": "more"}))
    out += renderer.render(_event(4, "tool_call_started", {"tool_name": "x"}))
    assert out == ">> Hello, world\nmore\nt+x"


def test_terminal_control_characters_are_stripped() -> None:
    renderer = CompactRenderer()
    out = renderer.render(_event(1, "message_streamed", {"delta": "a\x1b]0;pwned\x07b\x1b[2Jc"}))
    assert "\x1b" not in out
    assert "\x07" not in out


class _Weird:
    def __str__(self) -> str:
        raise RuntimeError("no str either")


@pytest.mark.parametrize(
    "data",
    [
        {"tool_name": 42, "tool_output": {"nested": {"deep": [1, 2, {"x": None}]}}},
        {"tool_name": None, "tool_output": b"bytes"},
        {"tool_name": ["a"], "tool_output": {1: "int key"}},
        {"tool_output": _Weird()},
        {"tool_output": float("nan")},
    ],
)
def test_never_crashes_on_unexpected_tool_data(data: dict[str, Any]) -> None:
    for renderer in (CompactRenderer(), CompactRenderer(color=True), VerboseRenderer()):
        text = renderer.render(_event(1, "tool_call_completed", data))
        assert isinstance(text, str)


def test_never_crashes_on_non_dict_data() -> None:
    event = Event("message_streamed", "ses_1", ["not", "a", "dict"], sequence_number=1)  # type: ignore[arg-type]
    for renderer in (CompactRenderer(), VerboseRenderer()):
        assert isinstance(renderer.render(event), str)
        assert isinstance(renderer.finish(), str)


def test_finish_closes_an_open_stream_line() -> None:
    renderer = CompactRenderer()
    renderer.render(_event(1, "message_streamed", {"delta": "partial"}))
    assert renderer.finish() == "\n1 event, 0 tools\n"


def test_renderers_fit_the_protocol() -> None:
    assert isinstance(CompactRenderer(), Renderer)
    assert isinstance(VerboseRenderer(), Renderer)
