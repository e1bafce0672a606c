"""The Claude Code adapter driving the real ``claude`` CLI against the fake model server."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from agent_session_manager import (
    AdapterOptions,
    ClaudeAdapter,
    Event,
    EventType,
    PermissionMode,
    RunStatus,
    SessionManager,
)
from agent_session_manager.testing.cli_env import claude_env
from agent_session_manager.testing.fake_model import FakeModelServer, delay, error, rule, text
from tests.support.process_groups import group_members, ours, wait_group_gone
from tests.support.provider_scripts import TOOL_RULES


def _options(
    server: FakeModelServer, workspace: Path, tmp_path: Path, **overrides: Any
) -> AdapterOptions:
    env = claude_env(server.url, tmp_path / "home")
    return AdapterOptions(cwd=str(workspace), env=env, **overrides)


def _types(events: tuple[Event, ...] | list[Event]) -> list[str]:
    return [e.type for e in events]


def _squash(types: list[str]) -> list[str]:
    """Consecutive message_streamed events as one (chunking is the server's business)."""
    out: list[str] = []
    for kind in types:
        if not (out and kind == out[-1] == EventType.MESSAGE_STREAMED):
            out.append(kind)
    return out


async def _new_session(manager: SessionManager) -> str:
    session = await manager.start_session()
    await manager.activate_session(session.id)
    return session.id


async def test_plain_text_run(
    claude_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script(
        {
            "rules": [
                rule(
                    text("Hello from the fake model!"),
                    usage={"input_tokens": 50, "output_tokens": 7},
                )
            ]
        }
    )
    manager = make_manager(ClaudeAdapter(claude_binary))
    result = await manager.run_once(
        "Say hello", options=_options(fake_model_server, workspace, tmp_path)
    )

    assert result.status is RunStatus.COMPLETED, result.error
    assert result.content == "Hello from the fake model!"
    assert _squash(_types(result.events)) == [
        "message_sent",
        "run_started",
        "message_streamed",
        "message_received",
        "token_usage_updated",
        "turn_completed",
        "run_completed",
    ]
    started = result.events[1].data
    assert started["provider"] == "claude"
    assert started["provider_session_id"] == result.provider_session_id
    assert isinstance(started["model"], str)
    streamed = "".join(e.data["delta"] for e in result.events if e.type == "message_streamed")
    assert streamed == "Hello from the fake model!"
    assert (result.token_usage.input_tokens, result.token_usage.output_tokens) == (50, 7)
    assert result.cost_usd is not None
    assert result.cost_usd > 0
    # Every model call went to the fake server, with the prompt.
    calls = fake_model_server.model_requests("anthropic")
    assert len(calls) == 1
    assert "Say hello" in json.dumps(calls[0].body["messages"])


async def test_tool_run_writes_the_file(
    claude_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script({"rules": TOOL_RULES})
    manager = make_manager(ClaudeAdapter(claude_binary))
    options = _options(
        fake_model_server, workspace, tmp_path, permission_mode=PermissionMode.FULL_AUTO
    )
    result = await manager.run_once("Please write the file", options=options)

    assert result.status is RunStatus.COMPLETED, result.error
    assert (workspace / "out.txt").read_text() == "hi\n"
    started = [e for e in result.events if e.type == "tool_call_started"]
    completed = [e for e in result.events if e.type == "tool_call_completed"]
    assert len(started) == len(completed) == 1
    assert started[0].data["tool_call_id"] == completed[0].data["tool_call_id"]
    assert started[0].data["tool_call_id"].startswith("toolu_")
    assert started[0].data["tool_name"] == "Bash"
    assert started[0].data["tool_input"] == {"command": "echo hi > out.txt && cat out.txt"}
    assert completed[0].data["tool_output"] == "hi"
    assert result.content == "The command ran. Output: hi"
    assert (result.token_usage.input_tokens, result.token_usage.output_tokens) == (2100, 30)
    deltas = [e.data for e in result.events if e.type == "token_usage_updated"]
    assert [(d["input_tokens"], d["output_tokens"]) for d in deltas] == [(1000, 20), (1100, 10)]


async def test_native_resume_reuses_the_session_and_counts_usage_per_run(
    claude_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script(
        {
            "rules": [
                rule(
                    text("First answer."),
                    user_contains="first",
                    usage={"input_tokens": 40, "output_tokens": 4},
                ),
                rule(
                    text("Second answer."),
                    user_contains="second",
                    usage={"input_tokens": 60, "output_tokens": 6},
                ),
            ]
        }
    )
    manager = make_manager(ClaudeAdapter(claude_binary))
    session_id = await _new_session(manager)
    options = _options(fake_model_server, workspace, tmp_path)

    first = await manager.execute_run(
        (await manager.start_run(session_id, "first question")).id, options=options
    )
    second = await manager.execute_run(
        (await manager.start_run(session_id, "second question")).id, options=options
    )

    assert first.ok, first.error
    assert second.ok, second.error
    assert second.provider_session_id == first.provider_session_id
    session = await manager.get_session(session_id)
    assert session.provider_handles["claude"].provider_session_id == first.provider_session_id
    calls = fake_model_server.model_requests("anthropic")
    history = json.dumps(calls[-1].body["messages"])
    assert "first question" in history
    assert "First answer." in history
    assert (second.token_usage.input_tokens, second.token_usage.output_tokens) == (60, 6)
    assert (first.token_usage.input_tokens, first.token_usage.output_tokens) == (40, 4)
    assert second.content == "Second answer."


async def test_default_mode_denies_the_write_as_a_failed_tool_call(
    claude_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script({"rules": TOOL_RULES})
    manager = make_manager(ClaudeAdapter(claude_binary))
    result = await manager.run_once(
        "Please write the file", options=_options(fake_model_server, workspace, tmp_path)
    )

    assert result.status is RunStatus.COMPLETED, result.error
    assert not (workspace / "out.txt").exists()
    failed = [e.data for e in result.events if e.type == "tool_call_failed"]
    assert len(failed) == 1
    assert failed[0]["reason"] == "permission_denied"
    assert failed[0]["tool_name"] == "Bash"
    assert "approval" in failed[0]["error_message"]


async def test_allowed_tools_reach_the_cli(
    claude_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script({"rules": TOOL_RULES})
    manager = make_manager(ClaudeAdapter(claude_binary))
    options = _options(fake_model_server, workspace, tmp_path, allowed_tools=("Bash",))
    result = await manager.run_once("Please write the file", options=options)

    assert result.status is RunStatus.COMPLETED, result.error
    assert (workspace / "out.txt").exists()  # allowed in default mode by the rule
    assert [e.type for e in result.events if e.type.startswith("tool_call")] == [
        "tool_call_started",
        "tool_call_completed",
    ]


async def test_denied_tools_reach_the_cli(
    claude_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    manager = make_manager(ClaudeAdapter(claude_binary))
    options = _options(
        fake_model_server,
        workspace,
        tmp_path,
        permission_mode=PermissionMode.FULL_AUTO,
        denied_tools=("Bash",),
    )
    result = await manager.run_once("Say hello", options=options)

    assert result.ok, result.error
    tools = {t["name"] for t in fake_model_server.model_requests()[0].body["tools"]}
    assert "Bash" not in tools
    assert "Read" in tools


async def test_cancel_mid_run_stops_the_process_group(
    claude_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script(
        {
            "rules": [
                rule(text("Thinking about it"), delay(60), text("never sent"), user_contains="slow")
            ]
        }
    )
    adapter = ClaudeAdapter(claude_binary)
    manager = make_manager(adapter)
    session_id = await _new_session(manager)
    options = _options(fake_model_server, workspace, tmp_path)
    run = await manager.start_run(session_id, "slow question")
    streaming = asyncio.Event()

    async def on_event(event: Event) -> None:
        if event.type == "message_streamed":
            streaming.set()

    task = asyncio.create_task(manager.execute_run(run.id, options=options, on_event=on_event))
    async with asyncio.timeout(30):
        await streaming.wait()
    process = adapter._runs.running(run.id)
    assert process is not None
    pgid = process.pgid
    assert group_members(pgid)

    began = time.monotonic()
    cancelled = await manager.cancel_run(run.id, reason="test")
    elapsed = time.monotonic() - began
    assert elapsed < 2.0
    assert ours(pgid) == []  # nothing left in the group but zombies handed to init
    await asyncio.to_thread(wait_group_gone, pgid)  # ... which init reaps
    assert cancelled.status is RunStatus.CANCELLED
    result = await task
    assert result.status is RunStatus.CANCELLED

    fake_model_server.set_script(None)
    after = await manager.execute_run(
        (await manager.start_run(session_id, "are you there?")).id, options=options
    )
    assert after.ok, after.error
    assert after.content == "Hello from the fake model!"


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(400, "provider_error", False), (529, "provider_overloaded", True)],
)
async def test_provider_http_errors_fail_the_run(
    claude_binary: str,
    fake_model_server: FakeModelServer,
    workspace: Path,
    tmp_path: Path,
    status: int,
    code: str,
    retryable: bool,
) -> None:
    fake_model_server.set_script({"rules": [rule(error(status, "scripted failure"))]})
    manager = make_manager(ClaudeAdapter(claude_binary))
    result = await manager.run_once(
        "Say hello", options=_options(fake_model_server, workspace, tmp_path)
    )

    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert (result.error.code, result.error.retryable) == (code, retryable)
    assert "scripted failure" in result.error.message
    failed = result.events[-1]
    assert failed.type == "run_failed"
    assert failed.data["retryable"] is retryable
    assert failed.data["details"]["http_status"] == status
    assert "run_completed" not in _types(result.events)


def make_manager(adapter: ClaudeAdapter) -> SessionManager:
    from agent_session_manager import InMemorySessionStore

    return SessionManager(InMemorySessionStore(), adapter, default_timeout=60)


async def test_max_turns_reaches_the_cli(
    claude_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script({"rules": TOOL_RULES})
    options = _options(
        fake_model_server,
        workspace,
        tmp_path,
        permission_mode=PermissionMode.FULL_AUTO,
        max_turns=1,
    )
    result = await make_manager(ClaudeAdapter(claude_binary)).run_once(
        "Please write the file", options=options
    )

    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.details["subtype"] == "error_max_turns"
    assert "maximum number of turns" in result.error.message
    assert len(fake_model_server.model_requests()) == 1


async def test_timeout_stops_the_cli_and_ends_timed_out(
    claude_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script({"rules": [rule(text("Working"), delay(60), text("never"))]})
    adapter = ClaudeAdapter(claude_binary)
    seen: list[int] = []

    async def on_event(event: Event) -> None:
        process = adapter._runs.running(event.run_id or "")
        if process is not None and not seen:
            seen.append(process.pgid)

    result = await make_manager(adapter).run_once(
        "slow",
        options=_options(fake_model_server, workspace, tmp_path),
        timeout=1.5,
        on_event=on_event,
    )

    assert result.status is RunStatus.TIMED_OUT
    assert result.events[-1].type == "run_timed_out"
    assert seen
    assert ours(seen[0]) == []
    await asyncio.to_thread(wait_group_gone, seen[0])
