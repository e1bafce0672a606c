"""The fake model server: scripts, matching, both wire formats, errors and the request log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent_session_manager.testing.fake_model import (
    FakeModelServer,
    error,
    rule,
    shell,
    text,
    thinking,
    tool,
)

BASH_TOOL = {"name": "Bash", "input_schema": {"properties": {"command": {"type": "string"}}}}
EXEC_TOOL = {"type": "function", "name": "exec_command", "parameters": {"properties": {"cmd": {}}}}


def _sse(body: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]


async def _post(url: str, body: dict[str, Any]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.text()


async def test_anthropic_stream_with_text_thinking_and_shell_tool() -> None:
    script = {
        "rules": [
            rule(
                thinking("hmm"),
                text("ok {user_text}"),
                shell("ls"),
                user_contains="list",
                usage={"input_tokens": 11, "output_tokens": 3},
            )
        ]
    }
    with FakeModelServer(script) as server:
        status, body = await _post(
            f"{server.url}/v1/messages?beta=true",
            {
                "model": "claude-x",
                "stream": True,
                "tools": [BASH_TOOL],
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "list files"}]},
                    {"role": "system", "content": "an environment update"},  # skipped
                ],
            },
        )
        log = server.requests
    events = _sse(body)
    assert status == 200
    assert events[0]["message"]["usage"]["input_tokens"] == 11
    starts = [e["content_block"] for e in events if e["type"] == "content_block_start"]
    assert [b["type"] for b in starts] == ["thinking", "text", "tool_use"]
    assert starts[2]["name"] == "Bash"
    text_out = "".join(
        e["delta"]["text"] for e in events if e.get("delta", {}).get("type") == "text_delta"
    )
    assert text_out == "ok list files"
    arguments = "".join(
        e["delta"]["partial_json"]
        for e in events
        if e.get("delta", {}).get("type") == "input_json_delta"
    )
    assert json.loads(arguments) == {"command": "ls"}
    delta = next(e for e in events if e["type"] == "message_delta")
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"]["output_tokens"] == 3
    assert [(r.api, r.rule, r.query) for r in log] == [("anthropic", 1, "beta=true")]


async def test_after_tool_result_and_tool_output_substitution() -> None:
    script = {"rules": [rule(text("got: {tool_output}"), after_tool_result=True)]}
    messages = [
        {"role": "user", "content": "run it"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash"}]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}],
        },
        {"role": "system", "content": "reminder after the tool result"},
    ]
    with FakeModelServer(script) as server:
        _, body = await _post(f"{server.url}/v1/messages", {"model": "m", "messages": messages})
    assert json.loads(body)["content"] == [{"type": "text", "text": "got: 42"}]


async def test_openai_responses_stream_with_exec_command() -> None:
    script = {"rules": [rule(text("doing it"), shell("echo hi"), api="openai", times=1)]}
    with FakeModelServer(script) as server:
        body = {
            "model": "gpt-x",
            "stream": True,
            "tools": [EXEC_TOOL],
            "input": [
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "go"}],
                }
            ],
        }
        _, first = await _post(f"{server.openai_base_url}/responses", body)
        _, second = await _post(f"{server.openai_base_url}/responses", body)
    events = _sse(first)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    outputs = events[-1]["response"]["output"]
    assert [o["type"] for o in outputs] == ["message", "function_call"]
    assert json.loads(outputs[1]["arguments"]) == {"cmd": "echo hi"}
    assert events[-1]["response"]["usage"]["total_tokens"] > 0
    # `times` spent: the second request gets the default reply.
    final = _sse(second)[-1]["response"]["output"]
    assert final[0]["content"][0]["text"] == "Hello from the fake model!"


@pytest.mark.parametrize(
    ("status", "kind"), [(400, "invalid_request_error"), (529, "overloaded_error")]
)
async def test_http_errors_in_each_api_shape(status: int, kind: str) -> None:
    with FakeModelServer({"rules": [rule(error(status, "nope"))]}) as server:
        got, anthropic = await _post(f"{server.url}/v1/messages", {"messages": []})
        got2, openai = await _post(f"{server.url}/v1/responses", {"input": []})
        log = server.requests
    assert got == got2 == status
    assert json.loads(anthropic) == {"type": "error", "error": {"type": kind, "message": "nope"}}
    assert json.loads(openai)["error"]["type"] == kind
    assert [r.status for r in log] == [status, status]


async def test_side_routes_and_stubs() -> None:
    with FakeModelServer({"stubs": {"POST /api/internal": {"ok": True}}}) as server:
        _, counted = await _post(f"{server.url}/v1/messages/count_tokens", {"messages": []})
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.url}/v1/models") as response:
                models = await response.json()
            async with session.get(f"{server.url}/elsewhere") as response:
                missing = response.status
        _, stubbed = await _post(f"{server.url}/api/internal", {})
        log = server.requests
    assert json.loads(counted)["input_tokens"] >= 1
    assert models["data"][0]["type"] == "model"
    assert missing == 404
    assert json.loads(stubbed) == {"ok": True}
    assert [r.is_model_call for r in log] == [False, False, False, False]
    assert server.model_requests() == []


async def test_tool_action_and_missing_shell_tool() -> None:
    script = {"rules": [rule(tool("Read", {"path": "a"}), user_contains="read"), rule(shell("x"))]}
    with FakeModelServer(script) as server:
        _, read = await _post(
            f"{server.url}/v1/messages", {"messages": [{"role": "user", "content": "read"}]}
        )
        status, body = await _post(
            f"{server.url}/v1/messages", {"messages": [{"role": "user", "content": "hi"}]}
        )
    assert json.loads(read)["content"][0]["input"] == {"path": "a"}
    assert status == 400  # the script asked for a shell tool the request does not offer
    assert "no shell tool" in body


def test_command_line_serves_a_script_file(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"default": [text("from the file")]}))
    log = tmp_path / "requests.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent_session_manager.testing.fake_model",
            "--script",
            str(script),
            "--log",
            str(log),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = json.loads(process.stdout.readline())["url"]
        assert url.startswith("http://127.0.0.1:")
        import urllib.request

        request = urllib.request.Request(
            f"{url}/v1/messages",
            data=json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            reply = json.loads(response.read())
    finally:
        process.terminate()
        process.wait(10)
    assert reply["content"][0]["text"] == "from the file"
    assert json.loads(log.read_text().splitlines()[0])["api"] == "anthropic"
