"""Real captured CLI streams (tests/data/cli, copied from the shared reference) parsed into the
canonical events we expect. The expectations are written by hand from reading each capture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent_session_manager import ProviderEvent, TokenUsage
from agent_session_manager.core.events import validate_event_data
from agent_session_manager.providers.claude import ClaudeStreamParser
from agent_session_manager.providers.codex import CodexStreamParser

DATA = Path(__file__).resolve().parents[2] / "data" / "cli"
BASH = {"command": "echo hi > out.txt && cat out.txt"}
CODEX_CMD = {"command": "/bin/bash -lc 'echo hi > out.txt && cat out.txt'"}
DENIED = (
    "Output redirection to '/home/user/work/claude/out.txt' needs approval. The path is inside "
    "the working directories for this session ('/home/user/work/claude'), and Claude Code asks "
    "before a shell command creates, changes or removes files there."
)
Expected = list[tuple[str, dict[str, Any]]]


def _usage(input_tokens: int, output_tokens: int, **more: int) -> dict[str, Any]:
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, **more}


def _sdk_to_cli(record: dict[str, Any]) -> dict[str, Any] | None:
    """A claude-agent-sdk message dump (``{"py_type", "data"}``) back as the CLI line it came
    from (the SDK drops the block ``type`` fields; they follow from the block's keys)."""
    kind, data = record["py_type"], record["data"]
    if kind == "SystemMessage":
        return dict(data["data"])
    if kind == "ResultMessage":
        return {"type": "result", **data}

    def block(raw: dict[str, Any]) -> dict[str, Any]:
        if "tool_use_id" in raw:
            return {"type": "tool_result", **raw}
        if "name" in raw and "input" in raw:
            return {"type": "tool_use", **raw}
        if "thinking" in raw:
            return {"type": "thinking", **raw}
        return {"type": "text", **raw}

    content = [block(b) for b in data["content"]]
    if kind == "AssistantMessage":
        message = {"id": data["message_id"], "model": data["model"], "content": content}
        line: dict[str, Any] = {"type": "assistant", "message": message}
        if data.get("error"):
            line["error"] = data["error"]
        return line
    if kind == "UserMessage":
        return {"type": "user", "message": {"role": "user", "content": content}}
    return None


def _lines(path: Path) -> list[dict[str, Any]]:
    objects = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if path.name.startswith("sdk_"):
        if path.parent.name == "claude":
            return [o for o in map(_sdk_to_cli, objects) if o is not None]
        return [o["data"] for o in objects]  # the Codex SDK yields the CLI's own objects
    return objects


def _parse(parser: ClaudeStreamParser | CodexStreamParser, path: Path) -> list[ProviderEvent]:
    events = [event for obj in _lines(path) for event in parser.feed(obj)]
    for event in events:  # everything an adapter emits must be valid for the pipeline
        validate_event_data(event.type, event.data)
    return events


def _check(events: list[ProviderEvent], expected: Expected) -> None:
    assert [e.type for e in events] == [kind for kind, _ in expected]
    for event, (_, subset) in zip(events, expected, strict=True):
        for key, value in subset.items():
            if isinstance(value, dict) and key == "token_usage":
                for name, figure in value.items():
                    assert event.data[key][name] == figure, (event.type, key, name)
            else:
                assert event.data.get(key) == value, (event.type, key, event.data.get(key))


def _plain(session: str, message: str, *, tokens: tuple[int, int], cost: float | None) -> Expected:
    completed: dict[str, Any] = {
        "stop_reason": "end_turn",
        "content": "Hello from the fake model!",
        "token_usage": _usage(*tokens),
        "cost_usd": cost,
    }
    return [
        ("run_started", {"provider_session_id": session, "model": "claude-opus-5-5"}),
        (
            "message_received",
            {"role": "assistant", "content": "Hello from the fake model!", "message_id": message},
        ),
        ("token_usage_updated", _usage(*tokens)),
        ("run_completed", completed),
    ]


def _tool(session: str, call: str, *, tokens: tuple[int, int], cost: float | None) -> Expected:
    return [
        ("run_started", {"provider_session_id": session}),
        ("message_received", {"content": "I'll create the file."}),
        ("tool_call_started", {"tool_call_id": call, "tool_name": "Bash", "tool_input": BASH}),
        ("tool_call_completed", {"tool_call_id": call, "tool_name": "Bash", "tool_output": "hi"}),
        ("message_received", {"content": "The command ran. Output: hi"}),
        ("token_usage_updated", _usage(*tokens)),
        (
            "run_completed",
            {
                "content": "The command ran. Output: hi",
                "token_usage": _usage(*tokens),
                "cost_usd": cost,
            },
        ),
    ]


CLAUDE: dict[str, Expected] = {
    "plain": _plain(
        "9a93ebd3-3449-41ab-8240-c9900d0f9761",
        "msg_4e4409dd487044c5a46a483b",
        tokens=(2716, 14),
        cost=0.011144000000000001,
    ),
    "stream_input": _plain(
        "2af7811f-03bc-4837-81de-99ecbe1d8d04",
        "msg_9e5e901b6a16402bbf10eec5",
        tokens=(2716, 14),
        cost=0.011144000000000001,
    ),
    "plain_json_single": _plain("", "", tokens=(2716, 14), cost=0.011144000000000001)[2:],
    "plain_partial": [
        ("run_started", {"provider_session_id": "b6a8973f-339d-454d-be4f-35a928a34f75"}),
        ("message_streamed", {"delta": "Hello fro"}),
        ("message_streamed", {"delta": "m the fak"}),
        ("message_streamed", {"delta": "e model!"}),
        ("message_received", {"content": "Hello from the fake model!"}),
        ("token_usage_updated", _usage(2716, 14)),  # message_start input + message_delta output
        ("turn_completed", {"turn": 1, "stop_reason": "end_turn"}),
        (
            "run_completed",
            {"content": "Hello from the fake model!", "token_usage": _usage(2716, 14)},
        ),
    ],
    "tool": _tool(
        "0b6a2839-964a-4e40-98b2-dc12f27608af",
        "toolu_9562b0e6e9bd4328a0ec3d67",
        tokens=(5780, 60),
        cost=0.02432,
    ),
    "tool_allowedtools": _tool(
        "78b848fa-5564-4eeb-8e5b-542ae5e13c51",
        "toolu_c9f69afb58f34b3d88fec894",
        tokens=(5530, 60),
        cost=0.02332,
    ),
    "tool_denied": [
        ("run_started", {"provider_session_id": "8ed4d7e0-c8b4-40f1-951d-fc6715cf0ff3"}),
        ("message_received", {"content": "I'll create the file."}),
        (
            "tool_call_started",
            {"tool_call_id": "toolu_cedf89b866034aa19c2db3ef", "tool_input": BASH},
        ),
        (
            "tool_call_failed",
            {
                "tool_call_id": "toolu_cedf89b866034aa19c2db3ef",
                "tool_name": "Bash",
                "reason": "permission_denied",
                "error_message": DENIED,
            },
        ),
        ("message_received", {"content": "The command ran. Output: " + DENIED}),
        ("token_usage_updated", _usage(5600, 130)),
        ("run_completed", {"stop_reason": "end_turn", "cost_usd": 0.025}),
    ],
    # The second turn of the `tool` session: usage covers this invocation only, and the cost
    # is the per-invocation figure, not the cumulative total_cost_usd (0.036604).
    "resume": [
        ("run_started", {"provider_session_id": "0b6a2839-964a-4e40-98b2-dc12f27608af"}),
        ("message_received", {"content": "Second turn answer: I remember the first turn."}),
        ("token_usage_updated", _usage(2976, 19)),
        ("run_completed", {"token_usage": _usage(2976, 19), "cost_usd": 0.012284}),
    ],
    # An API error reported as subtype "success" with is_error: a failure, not retryable.
    "error_400": [
        ("run_started", {"provider_session_id": "868d15c1-a151-40bd-b09a-75f247a03e90"}),
        (
            "run_failed",
            {
                "error_code": "provider_error",
                "retryable": False,
                "category": "provider",
                "error_message": "API Error: 400 fake-llm: scripted invalid_request",
            },
        ),
    ],
    "sdk_plain": _plain(
        "b3e14a89-65b2-49dc-a4f3-8d774073565a",
        "msg_52917548cdaf4df28ca99877",
        tokens=(2566, 14),
        cost=0.010544000000000001,
    ),
    "sdk_tool": _tool(
        "c774f6c1-b2ec-4738-8df3-594f53503d73",
        "toolu_47b4642d582e4274a135e9b0",
        tokens=(5478, 60),
        cost=0.023112,
    ),
    # Resumed, and the SDK dump lacks the per-invocation cost: no cost rather than a wrong one.
    "sdk_resume": [
        ("run_started", {"provider_session_id": "c774f6c1-b2ec-4738-8df3-594f53503d73"}),
        ("message_received", {"content": "Second turn answer: I remember the first turn."}),
        ("token_usage_updated", _usage(2826, 19)),
        ("run_completed", {"token_usage": _usage(2826, 19), "cost_usd": None}),
    ],
}
RESUMED = {"resume", "sdk_resume"}


def test_every_claude_capture_has_an_expectation() -> None:
    assert {p.stem for p in (DATA / "claude").glob("*.jsonl")} == set(CLAUDE)


@pytest.mark.parametrize("name", sorted(CLAUDE))
def test_claude_capture(name: str) -> None:
    parser = ClaudeStreamParser(resumed=name in RESUMED)
    _check(_parse(parser, DATA / "claude" / f"{name}.jsonl"), CLAUDE[name])
    assert parser.finished


def test_claude_error_400_keeps_the_status() -> None:
    events = _parse(ClaudeStreamParser(), DATA / "claude" / "error_400.jsonl")
    assert events[-1].data["details"]["http_status"] == 400


def _codex_tool(thread: str, output: str, *, tokens: tuple[int, int]) -> Expected:
    return [
        ("run_started", {"provider_session_id": thread}),
        ("message_received", {"content": "I'll create the file.", "message_id": "item_0"}),
        (
            "tool_call_started",
            {"tool_call_id": "item_1", "tool_name": "command_execution", "tool_input": CODEX_CMD},
        ),
        ("tool_call_completed", {"tool_call_id": "item_1", "tool_output": "hi\n", "exit_code": 0}),
        ("message_received", {"message_id": "item_2", "content": output}),
        ("token_usage_updated", _usage(*tokens)),
        ("turn_completed", {"turn": 1}),
        ("run_completed", {"content": output, "token_usage": _usage(*tokens)}),
    ]


def _codex_text(thread: str, text: str, *, tokens: tuple[int, int]) -> Expected:
    return [
        ("run_started", {"provider_session_id": thread}),
        ("message_received", {"role": "assistant", "content": text, "message_id": "item_0"}),
        ("token_usage_updated", _usage(*tokens)),
        ("turn_completed", {"turn": 1, "stop_reason": "end_turn"}),
        (
            "run_completed",
            {"stop_reason": "end_turn", "content": text, "token_usage": _usage(*tokens)},
        ),
    ]


OUTPUT = (
    "The command ran. Output: Chunk ID: {}\nWall time: {} seconds\nProcess exited with code {}"
    "\nOriginal token count: {}\nOutput:\n{}"
)
REMEMBER = "Second turn answer: I remember the first turn."
HELLO = "Hello from the fake model!"
#: name -> (cumulative usage before the run, expected events). Codex reports usage cumulatively
#: per thread: `resume` continues `tool` (14060 in, 187 out), `resume_last` continues `resume`.
CODEX: dict[str, tuple[tuple[int, int], Expected]] = {
    "plain": (
        (0, 0),
        _codex_text("01a20d6f-b70f-74b3-bbf6-ef6e6a23240e", HELLO, tokens=(6949, 53)),
    ),
    "tool": (
        (0, 0),
        _codex_tool(
            "01a20d6f-bc88-74b3-9a8c-64d30c146c30",
            OUTPUT.format("b861b3", "0.0000", 0, 1, "hi"),
            tokens=(14060, 187),
        ),
    ),
    "tool_workspace_write": (
        (0, 0),
        _codex_tool(
            "01a20d6f-c325-78d2-b3a1-cf3f0a0834ad",
            OUTPUT.format("b866dc", "0.0527", 0, 1, "hi"),
            tokens=(14457, 187),
        ),
    ),
    "tool_readonly": (
        (0, 0),
        [
            ("run_started", {"provider_session_id": "01a20d6f-caf1-7d01-8284-3ba99a07969a"}),
            ("message_received", {"content": "I'll create the file."}),
            ("tool_call_started", {"tool_call_id": "item_1", "tool_input": CODEX_CMD}),
            (
                "tool_call_failed",
                {
                    "tool_call_id": "item_1",
                    "reason": "permission_denied",
                    "exit_code": 1,
                    "tool_output": "/bin/bash: line 1: out.txt: Read-only file system\n",
                },
            ),
            ("message_received", {"message_id": "item_2"}),
            ("token_usage_updated", _usage(14093, 199)),
            ("turn_completed", {}),
            ("run_completed", {"token_usage": _usage(14093, 199)}),
        ],
    ),
    "resume": (
        (14060, 187),
        _codex_text(
            "01a20d6f-bc88-74b3-9a8c-64d30c146c30", REMEMBER, tokens=(21295 - 14060, 245 - 187)
        ),
    ),
    "resume_last": (
        (21295, 245),
        _codex_text(
            "01a20d6f-bc88-74b3-9a8c-64d30c146c30", REMEMBER, tokens=(28883 - 21295, 303 - 245)
        ),
    ),
    "error_400": (
        (0, 0),
        [
            ("run_started", {"provider_session_id": "01a20d6f-de10-7ba2-8684-c74d5bb72f74"}),
            (
                "run_failed",
                {
                    "error_code": "provider_error",
                    "retryable": False,
                    "category": "provider",
                    "error_message": "fake-llm: scripted invalid_request",
                },
            ),
        ],
    ),
    "sdk_plain": (
        (0, 0),
        _codex_text("01a20d6f-e25c-79d1-9b53-3245be61c55c", HELLO, tokens=(6938, 53)),
    ),
    "sdk_tool": (
        (0, 0),
        _codex_tool(
            "01a20d6f-e25c-79d1-9b53-3245be61c55c",
            OUTPUT.format("79f2f1", "0.0000", 0, 1, "hi"),
            tokens=(21177, 240),
        ),
    ),
    # The SDK session ran plain, then tool, then resume in one thread: 21177 in, 240 out before.
    "sdk_resume": (
        (21177, 240),
        _codex_text(
            "01a20d6f-e25c-79d1-9b53-3245be61c55c", REMEMBER, tokens=(28502 - 21177, 298 - 240)
        ),
    ),
}


def test_every_codex_capture_has_an_expectation() -> None:
    assert {p.stem for p in (DATA / "codex").glob("*.jsonl")} == set(CODEX)


@pytest.mark.parametrize("name", sorted(CODEX))
def test_codex_capture(name: str) -> None:
    (before_in, before_out), expected = CODEX[name]
    parser = CodexStreamParser(
        baseline=TokenUsage(input_tokens=before_in, output_tokens=before_out)
    )
    _check(_parse(parser, DATA / "codex" / f"{name}.jsonl"), expected)
    assert parser.finished
