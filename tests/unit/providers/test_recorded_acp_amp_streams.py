"""Real captured ACP and Amp streams (tests/data/cli, copied from the shared reference) parsed
into the canonical events we expect. The expectations are written by hand from each capture.

An ACP capture holds every JSON-RPC message both ways; :func:`_replay_acp` plays the client's
part the way the adapter does: a run per ``session/prompt``, updates counted only while that
prompt is open (a ``session/load`` replaying history is not a run's output), refused permission
requests reported as denials, and the prompt's response ending the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent_session_manager import ProviderEvent
from agent_session_manager.core.events import validate_event_data
from agent_session_manager.providers.acp import ACPUpdateParser, session_model
from agent_session_manager.providers.amp import AmpStreamParser

DATA = Path(__file__).resolve().parents[2] / "data" / "cli"
CLAUDE_CMD = {"command": "echo hi > out.txt && cat out.txt"}
AMP_CMD = {"cmd": "echo hi > out.txt && cat out.txt"}
Expected = list[tuple[str, dict[str, Any]]]


def _check(events: list[ProviderEvent], expected: Expected) -> None:
    for event in events:  # everything an adapter emits must be valid for the pipeline
        validate_event_data(event.type, event.data)
    assert [e.type for e in events] == [kind for kind, _ in expected]
    for event, (_, subset) in zip(events, expected, strict=True):
        for key, value in subset.items():
            if key == "token_usage":
                for name, figure in value.items():
                    assert event.data[key][name] == figure, (event.type, key, name)
            else:
                assert event.data.get(key) == value, (event.type, key, event.data.get(key))


# -- ACP ---------------------------------------------------------------------------------------
def _replay_acp(path: Path) -> list[list[ProviderEvent]]:
    """The events of each prompt in the capture, as the adapter would report them."""
    messages = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    runs: list[list[ProviderEvent]] = []
    session_id: str | None = None
    model: str | None = None
    methods: dict[Any, str] = {}
    parser: ACPUpdateParser | None = None
    prompt_id: Any = None
    permissions: dict[Any, dict[str, Any]] = {}
    for record in messages:
        msg, outgoing = record["msg"], record["dir"] == "->"
        method = msg.get("method")
        if outgoing and method is not None:  # our request or notification
            methods[msg.get("id")] = method
            if method == "session/load":
                session_id = msg["params"]["sessionId"]
            if method == "session/prompt":
                parser, prompt_id = ACPUpdateParser(), msg["id"]
                runs.append(parser.started(str(session_id), model))
            continue
        if outgoing:  # our answer to an agent request (a permission decision)
            request = permissions.pop(msg["id"], None)
            if request is not None and parser is not None:
                chosen = msg["result"]["outcome"].get("optionId")
                kinds = {o["optionId"]: o["kind"] for o in request["options"]}
                if not str(kinds.get(chosen, "reject")).startswith("allow"):
                    runs[-1] += parser.denied(request["toolCall"], "refused")
            continue
        if method == "session/update":
            if parser is not None:
                runs[-1] += parser.update(msg["params"]["update"])
        elif method == "session/request_permission":
            permissions[msg["id"]] = msg["params"]
        elif "result" in msg and methods.get(msg.get("id")) in ("session/new", "session/load"):
            result = msg["result"] or {}
            session_id = result.get("sessionId", session_id)
            model = session_model(result)
        elif "result" in msg and parser is not None and msg.get("id") == prompt_id:
            runs[-1] += parser.finish(msg["result"])
            assert parser.finished
            parser = None
    return runs


def _streamed(*chunks: str) -> Expected:
    return [("message_streamed", {"delta": chunk}) for chunk in chunks]


def _ended(content: str, **message: Any) -> Expected:
    return [
        ("message_received", {"role": "assistant", "content": content, **message}),
        ("turn_completed", {"turn": 1, "stop_reason": "end_turn"}),
        ("run_completed", {"stop_reason": "end_turn", "content": content}),
    ]


def _claude_runs(session: str, call: str) -> list[Expected]:
    started = ("run_started", {"provider_session_id": session})
    plain = [started, *_streamed("Hello fro", "m the fak", "e model!")]
    plain += _ended("Hello from the fake model!")
    tool: Expected = [
        started,
        *_streamed("I'll cr", "eate th", "e file."),
        ("message_received", {"content": "I'll create the file."}),
        # The first tool_call (empty rawInput, pending) is held until the input is known.
        (
            "tool_call_started",
            {"tool_call_id": call, "tool_name": "Bash", "tool_input": CLAUDE_CMD},
        ),
        (
            "tool_call_completed",
            {"tool_call_id": call, "tool_name": "Bash", "tool_output": "hi"},
        ),
        *_streamed("The comma", "nd ran. O", "utput: hi"),
        *_ended("The command ran. Output: hi"),
    ]
    return [plain, tool]


def _resumed(session: str, *extra: tuple[str, dict[str, Any]], **message: Any) -> list[Expected]:
    return [
        [
            ("run_started", {"provider_session_id": session}),
            *_streamed("Second turn answ", "er: I remember t", "he first turn."),
            *extra,
            *_ended("Second turn answer: I remember the first turn.", **message),
        ]
    ]


CODEX_SESSION = "01a20d70-e5dd-73b3-9800-23255ba8c579"
CODEX_CALL = "call_12eaa11b513f4d93b6a3f38b"
CODEX_ANSWER = (
    "The command ran. Output: Chunk ID: 8eebb6\nWall time: 0.0000 seconds\n"
    "Process exited with code 0\nOriginal token count: 1\nOutput:\nhi"
)
GPT = {"model": "gpt-5.5"}


def _context(used: int) -> tuple[str, dict[str, Any]]:
    return ("context_usage_updated", {"used": used, "size": 258400})


ACP: dict[str, list[Expected]] = {
    "acp-claude/acp_plain_and_tool": _claude_runs(
        "5af1239c-3cc8-4f9e-9420-1d3f76195bef", "toolu_040175b327c74d92a49880a2"
    ),
    "acp-claude/acp_resume": _resumed("5af1239c-3cc8-4f9e-9420-1d3f76195bef"),
    "acp-claude-native/acp_plain_and_tool": _claude_runs(
        "ed206c26-1099-491f-82b1-2a4d61384c1a", "toolu_420994f99e3e4f4887436087"
    ),
    "acp-claude-native/acp_resume": _resumed("ed206c26-1099-491f-82b1-2a4d61384c1a"),
    "acp-codex/acp_plain_and_tool": [
        [
            ("run_started", {"provider_session_id": CODEX_SESSION, "model": "gpt-5.5"}),
            *_streamed("Hello fro", "m the fak", "e model!"),
            _context(1539),
            *_ended("Hello from the fake model!", **GPT),
        ],
        [
            ("run_started", {"provider_session_id": CODEX_SESSION, "model": "gpt-5.5"}),
            *_streamed("I'll cr", "eate th", "e file."),
            ("message_received", {"content": "I'll create the file.", **GPT}),
            ("tool_call_started", {"tool_call_id": CODEX_CALL, "tool_name": "execute"}),
            ("tool_call_completed", {"tool_call_id": CODEX_CALL, "tool_name": "execute"}),
            _context(1653),
            *_streamed(
                "The command ran. Output: Chunk ID: 8eebb6\nW",
                "all time: 0.0000 seconds\nProcess exited wit",
                "h code 0\nOriginal token count: 1\nOutput:\nhi",
            ),
            _context(1745),
            *_ended(CODEX_ANSWER, **GPT),
        ],
    ],
    # session/load replays the whole history as updates: none of it is the new run's.
    "acp-codex/acp_resume": _resumed(CODEX_SESSION, _context(3110), **GPT),
}


def test_every_acp_capture_has_an_expectation() -> None:
    found = {f"{p.parent.name}/{p.stem}" for p in DATA.glob("acp-*/*.jsonl")}
    assert found == set(ACP)


@pytest.mark.parametrize("name", sorted(ACP))
def test_acp_capture(name: str) -> None:
    runs = _replay_acp(DATA / f"{name}.jsonl")
    assert len(runs) == len(ACP[name])
    for events, expected in zip(runs, ACP[name], strict=True):
        _check(events, expected)


def test_acp_codex_tool_call_carries_the_command_and_its_output() -> None:
    tool_run = _replay_acp(DATA / "acp-codex" / "acp_plain_and_tool.jsonl")[1]
    started = next(e.data for e in tool_run if e.type == "tool_call_started")
    completed = next(e.data for e in tool_run if e.type == "tool_call_completed")
    assert started["tool_input"]["command"] == ["/bin/bash", "-lc", CLAUDE_CMD["command"]]
    assert completed["tool_output"]["aggregated_output"] == "hi\n"
    assert completed["tool_output"]["exit_code"] == 0


def test_acp_refused_permission_is_a_failed_tool_call() -> None:
    parser = ACPUpdateParser()
    parser.started("s")
    pending = {
        "sessionUpdate": "tool_call",
        "toolCallId": "t1",
        "rawInput": CLAUDE_CMD,
        "status": "pending",
        "kind": "execute",
        "_meta": {"claudeCode": {"toolName": "Bash"}},
    }
    events = parser.update(pending)
    events += parser.denied({"toolCallId": "t1", "rawInput": CLAUDE_CMD}, "no approval")
    events += parser.update(
        {"sessionUpdate": "tool_call_update", "toolCallId": "t1", "status": "failed"}
    )
    _check(
        events,
        [
            ("tool_call_started", {"tool_call_id": "t1", "tool_name": "Bash"}),
            (
                "tool_call_failed",
                {"reason": "permission_denied", "error_message": "no approval"},
            ),
        ],
    )


def test_acp_call_without_an_outcome_ends_failed_at_the_end_of_the_turn() -> None:
    # codex-acp in its sandboxed "auto" mode, where the sandbox cannot start: the call is
    # announced in progress and never reported again.
    parser = ACPUpdateParser()
    events = parser.update(
        {
            "sessionUpdate": "tool_call",
            "toolCallId": "c1",
            "kind": "execute",
            "status": "in_progress",
            "rawInput": {"command": ["/bin/bash", "-lc", "true"]},
        }
    )
    events += parser.finish({"stopReason": "end_turn"})
    _check(
        events,
        [
            ("tool_call_started", {"tool_call_id": "c1", "tool_name": "execute"}),
            ("tool_call_failed", {"tool_call_id": "c1", "reason": "no_result"}),
            ("turn_completed", {"stop_reason": "end_turn"}),
            ("run_completed", {"stop_reason": "end_turn"}),
        ],
    )


# -- Amp ---------------------------------------------------------------------------------------
def _amp_lines(path: Path) -> list[dict[str, Any]]:
    objects = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if path.name.startswith("legacy_sdk_"):
        return [o["data"] for o in objects]  # amp-sdk yields the CLI's own objects
    return objects


def _usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {"input_tokens": input_tokens, "output_tokens": output_tokens}


def _amp_text(thread: str, content: str, tokens: tuple[int, int]) -> Expected:
    return [
        ("run_started", {"provider_session_id": thread}),
        ("message_received", {"role": "assistant", "content": content}),
        ("token_usage_updated", _usage(*tokens)),
        ("turn_completed", {"turn": 1, "stop_reason": "end_turn"}),
        (
            "run_completed",
            {"content": content, "token_usage": _usage(*tokens), "turn_count": 1},
        ),
    ]


AMP_ANSWER = "The command ran. Output: <output>hi\n</output>\n<exitCode>0</exitCode>"


def _amp_tool(thread: str, call: str) -> Expected:
    return [
        ("run_started", {"provider_session_id": thread}),
        ("message_received", {"content": "I'll create the file."}),
        ("tool_call_started", {"tool_call_id": call, "tool_name": "Bash", "tool_input": AMP_CMD}),
        ("token_usage_updated", _usage(60, 45)),
        ("turn_completed", {"turn": 1, "stop_reason": "tool_use"}),
        (
            "tool_call_completed",
            {"tool_call_id": call, "tool_name": "Bash", "tool_output": "hi\n", "exit_code": 0},
        ),
        ("message_received", {"content": AMP_ANSWER}),
        ("token_usage_updated", _usage(167, 25)),
        ("turn_completed", {"turn": 2, "stop_reason": "end_turn"}),
        ("run_completed", {"content": AMP_ANSWER, "token_usage": _usage(227, 70), "turn_count": 2}),
    ]


HELLO = "Hello from the fake model!"
SECOND = "Second turn answer: I remember the first turn."
AMP: dict[str, Expected] = {
    "legacy_plain": _amp_text("T-01a20d6f-fc26-73ca-9569-500546cfe183", HELLO, (53, 14)),
    "legacy_tool": _amp_tool(
        "T-01a20d70-0372-7703-8731-7fff2f04d9dd", "toolu_2f114bd2f7d441e8be4cd5aa"
    ),
    # Without --dangerously-allow-all the legacy Amp still ran the echo (no prompt in -x mode).
    "legacy_tool_noallow": _amp_tool(
        "T-01a20d70-0b29-71cf-85a0-8a000ae4a60e", "toolu_8097558f1de64cf9aa2b9b93"
    ),
    # The second turn of the `legacy_tool` thread: the same thread id, this run's usage only.
    "legacy_resume": _amp_text("T-01a20d70-0372-7703-8731-7fff2f04d9dd", SECOND, (245, 19)),
    "legacy_sdk_plain": _amp_text("T-01a20d70-1bd3-7739-be9a-6c3672940a9c", HELLO, (53, 14)),
    "legacy_sdk_tool": _amp_tool(
        "T-01a20d70-2084-776d-9383-2521f5a907ba", "toolu_afb8d2daacdc4b80b88fe504"
    ),
    "legacy_sdk_resume": _amp_text("T-01a20d70-2084-776d-9383-2521f5a907ba", SECOND, (245, 19)),
}


def test_every_amp_capture_has_an_expectation() -> None:
    assert {p.stem for p in (DATA / "amp").glob("*.jsonl")} == set(AMP)


@pytest.mark.parametrize("name", sorted(AMP))
def test_amp_capture(name: str) -> None:
    parser = AmpStreamParser()
    events = [e for obj in _amp_lines(DATA / "amp" / f"{name}.jsonl") for e in parser.feed(obj)]
    _check(events, AMP[name])
    assert parser.finished


@pytest.mark.parametrize(
    ("error", "code", "status", "message"),
    [
        (
            '400 {"type":"error","error":{"type":"invalid_request_error","message":"scripted"}}',
            "provider_error",
            400,
            "scripted",
        ),
        (
            "Model provider overloaded. Try again in a few seconds.",
            "provider_overloaded",
            529,
            "Model provider overloaded. Try again in a few seconds.",
        ),
    ],
)
def test_amp_error_results_fail_the_run(error: str, code: str, status: int, message: str) -> None:
    # As legacy Amp printed them for a scripted HTTP 400 / 529 (exit code 0).
    parser = AmpStreamParser()
    result = {
        "type": "result",
        "subtype": "error_during_execution",
        "is_error": True,
        "num_turns": 0,
        "error": error,
        "session_id": "T-x",
    }
    (event,) = parser.feed(result)
    assert event.type == "run_failed"
    validate_event_data(event.type, event.data)
    assert event.data["error_code"] == code
    assert event.data["details"]["http_status"] == status
    assert event.data["error_message"] == message
    assert event.data["retryable"] is (status == 529)
    assert event.data["category"] == "provider"
