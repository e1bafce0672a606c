"""Scenario files: every step kind maps to the Scenario builder; malformed files name the step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent_session_manager import (
    ProviderEvent,
    RunRequest,
    Scenario,
    ScriptedAdapter,
    ValidationError,
)
from agent_session_manager.providers.scenario_file import (
    default_reply_scenario,
    load_scenario,
    parse_scenario,
)


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(data))
    return path


async def _play(scenario: Scenario) -> list[ProviderEvent]:
    adapter = ScriptedAdapter(scenario)
    request = RunRequest(run_id="run_1", session_id="ses_1", messages=())
    return [event async for event in adapter.stream(request)]


def test_every_step_kind_matches_the_builder(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "model": "m-1",
            "stop_reason": "max_tokens",
            "steps": [
                {"text": "abcdef", "chunks": 3},
                {"tool_call": {"name": "bash", "input": {"command": "ls"}, "output": {"a": 1}}},
                {"tool_call": {"name": "rm", "error": "denied", "id": "call_x"}},
                {"usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_tokens": 2}},
                {"end_turn": "tool_use"},
                {"end_turn": None},
                {"delay": 0},
                {"event": {"type": "my.custom", "data": {"k": "v"}}},
                {"fail": {"message": "down", "code": "provider_unavailable", "retryable": True}},
            ],
        },
    )
    expected = (
        Scenario()
        .with_model("m-1")
        .with_stop_reason("max_tokens")
        .text("abcdef", chunks=3)
        .tool_call("bash", {"command": "ls"}, output={"a": 1})
        .tool_call("rm", error="denied", call_id="call_x")
        .usage(10, 5, cache_read_tokens=2)
        .end_turn("tool_use")
        .end_turn()
        .delay(0)
        .event("my.custom", {"k": "v"})
        .fail("down", code="provider_unavailable", retryable=True)
    )
    assert load_scenario(path) == expected


def test_fail_as_a_plain_message() -> None:
    parsed = parse_scenario({"steps": [{"fail": "boom"}]})
    assert parsed == Scenario().fail("boom")


async def test_loaded_scenario_plays() -> None:
    scenario = parse_scenario({"steps": [{"text": "hi"}, {"usage": {"output_tokens": 3}}]})
    types = [event.type for event in await _play(scenario)]
    assert types == [
        "run_started",
        "message_streamed",
        "message_received",
        "token_usage_updated",
        "turn_completed",
        "run_completed",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a JSON object, got a list"),
        ({}, "missing the 'steps' list"),
        ({"steps": {}}, "'steps' must be a list, got an object"),
        ({"steps": [], "modle": "x"}, "unknown key 'modle'"),
        ({"model": 3, "steps": []}, "'model' must be a non-empty string"),
        ({"steps": [{"text": "a"}, "text"]}, "step 2: must be an object"),
        ({"steps": [{}]}, "step 1: must be an object"),
        ({"steps": [{"txt": "a"}]}, "step 1: needs exactly one of text, tool_call"),
        ({"steps": [{"text": "a", "delay": 1}]}, "step 1: needs exactly one of"),
        ({"steps": [{"text": 3}]}, "step 1 (text): 'text' must be a non-empty string"),
        ({"steps": [{"text": "a", "chunks": 0}]}, "step 1 (text): 'chunks' must be an integer"),
        ({"steps": [{"text": "a", "chunks": True}]}, "'chunks' must be an integer"),
        ({"steps": [{"tool_call": {}}]}, "step 1 (tool_call): missing 'name'"),
        ({"steps": [{"tool_call": "bash"}]}, "'tool_call' must be an object, got a string"),
        ({"steps": [{"tool_call": {"name": "x", "inputs": {}}}]}, "unknown key 'inputs'"),
        ({"steps": [{"tool_call": {"name": "x", "input": []}}]}, "'input' must be an object"),
        ({"steps": [{"usage": {"input_tokens": -1}}]}, "'input_tokens' must be an integer >= 0"),
        ({"steps": [{"usage": {"input_tokens": 1.5}}]}, "'input_tokens' must be an integer"),
        ({"steps": [{"delay": -1}]}, "step 1 (delay): 'delay' must be a non-negative number"),
        ({"steps": [{"delay": "1"}]}, "'delay' must be a non-negative number"),
        ({"steps": [{"fail": {}}]}, "step 1 (fail): missing 'message'"),
        ({"steps": [{"fail": {"message": "x", "retryable": "yes"}}]}, "'retryable' must be"),
        ({"steps": [{"event": {"data": {}}}]}, "step 1 (event): missing 'type'"),
        ({"steps": [{"event": {"type": "x", "data": 1}}]}, "'data' must be an object"),
        ({"steps": [{"end_turn": 5}]}, "'end_turn' must be a non-empty string"),
    ],
)
def test_malformed_scenarios_name_the_problem(tmp_path: Path, data: Any, message: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(ValidationError) as caught:
        load_scenario(path)
    assert message in caught.value.message
    assert str(path) in caught.value.message


def test_invalid_json_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"steps": [')
    with pytest.raises(ValidationError, match="is not valid JSON"):
        load_scenario(broken)
    with pytest.raises(ValidationError, match="does not exist"):
        load_scenario(tmp_path / "missing.json")


async def test_default_reply_mentions_the_prompt_and_reports_usage() -> None:
    events = await _play(default_reply_scenario("Fix   the\nbug"))
    streamed = "".join(e.data["delta"] for e in events if e.type == "message_streamed")
    assert '"Fix the bug"' in streamed
    usage = [e.data for e in events if e.type == "token_usage_updated"]
    assert len(usage) == 1
    assert usage[0]["input_tokens"] > 0
    assert usage[0]["output_tokens"] > 0
    assert default_reply_scenario("Fix the bug") == default_reply_scenario("Fix the bug")


def test_default_reply_quotes_long_prompts_briefly() -> None:
    scenario = default_reply_scenario("word " * 100)
    received = [s for s in scenario.steps if getattr(s, "type", "") == "message_received"]
    assert len(received) == 1
    assert len(received[0].data["content"]) < 300  # type: ignore[union-attr]
