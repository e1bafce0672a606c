"""CompactRenderer: golden output for a fixed run, with and without colour, and robustness."""

from __future__ import annotations

from typing import Any

import pytest

from agent_session_manager import CompactRenderer, Event, Renderer, VerboseRenderer
from tests.support.golden_run import GOLDEN, GOLDEN_COLOR, event, golden_events


def _render_all(renderer: Renderer, events: list[Event]) -> str:
    return "".join(renderer.render(e) for e in events) + renderer.finish()


def test_golden_without_colour() -> None:
    assert _render_all(CompactRenderer(), golden_events()) == GOLDEN


def test_golden_with_colour() -> None:
    assert _render_all(CompactRenderer(color=True), golden_events()) == GOLDEN_COLOR


def test_counts_events_and_tools() -> None:
    renderer = CompactRenderer()
    _render_all(renderer, golden_events())
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
    assert CompactRenderer().render(event(1, kind, data)) == expected


def test_long_previews_are_cut_and_flattened() -> None:
    renderer = CompactRenderer()
    text = renderer.render(
        event(1, "tool_call_completed", {"tool_name": "cat", "tool_output": "line\n" * 100})
    )
    assert "\n" not in text
    assert text.endswith("...")
    assert len(text) == len("t-cat tr:") + 120 + 3


def test_streamed_text_is_raw_and_continues() -> None:
    renderer = CompactRenderer()
    out = renderer.render(event(1, "message_streamed", {"delta": "Hello"}))
    out += renderer.render(event(2, "message_streamed", {"delta": ", world\n"}))
    out += renderer.render(event(3, "message_streamed", {"delta": "more"}))
    out += renderer.render(event(4, "tool_call_started", {"tool_name": "x"}))
    assert out == ">> Hello, world\nmore\nt+x"


def test_terminal_control_characters_are_stripped() -> None:
    renderer = CompactRenderer()
    out = renderer.render(event(1, "message_streamed", {"delta": "a\x1b]0;pwned\x07b\x1b[2Jc"}))
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
        text = renderer.render(event(1, "tool_call_completed", data))
        assert isinstance(text, str)


def test_never_crashes_on_non_dict_data() -> None:
    event = Event("message_streamed", "ses_1", ["not", "a", "dict"], sequence_number=1)  # type: ignore[arg-type]
    for renderer in (CompactRenderer(), VerboseRenderer()):
        assert isinstance(renderer.render(event), str)
        assert isinstance(renderer.finish(), str)


def test_finish_closes_an_open_stream_line() -> None:
    renderer = CompactRenderer()
    renderer.render(event(1, "message_streamed", {"delta": "partial"}))
    assert renderer.finish() == "\n1 event, 0 tools\n"


def test_renderers_fit_the_protocol() -> None:
    assert isinstance(CompactRenderer(), Renderer)
    assert isinstance(VerboseRenderer(), Renderer)
