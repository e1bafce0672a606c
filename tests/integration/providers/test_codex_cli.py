"""The Codex adapter driving the real ``codex`` CLI against the fake model server."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from agent_session_manager import (
    AdapterOptions,
    CodexAdapter,
    Event,
    InMemorySessionStore,
    PermissionMode,
    RunStatus,
    SessionManager,
)
from agent_session_manager.testing.cli_env import codex_env
from agent_session_manager.testing.fake_model import FakeModelServer, delay, error, rule, text
from tests.support.process_groups import ours, wait_group_gone
from tests.support.provider_scripts import TOOL_RULES


def _options(
    server: FakeModelServer, workspace: Path, tmp_path: Path, **overrides: Any
) -> AdapterOptions:
    env = codex_env(server.openai_base_url, tmp_path / "home")
    return AdapterOptions(cwd=str(workspace), env=env, **overrides)


def _manager(adapter: CodexAdapter) -> SessionManager:
    return SessionManager(InMemorySessionStore(), adapter, default_timeout=60)


async def _new_session(manager: SessionManager) -> str:
    session = await manager.start_session()
    await manager.activate_session(session.id)
    return session.id


async def test_plain_text_run(
    codex_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script(
        {
            "rules": [
                rule(
                    text("Hello from the fake model!"),
                    usage={"input_tokens": 80, "output_tokens": 9},
                )
            ]
        }
    )
    result = await _manager(CodexAdapter(codex_binary)).run_once(
        "Say hello", options=_options(fake_model_server, workspace, tmp_path)
    )

    assert result.status is RunStatus.COMPLETED, result.error
    assert result.content == "Hello from the fake model!"
    assert [e.type for e in result.events] == [
        "message_sent",
        "run_started",
        "message_received",
        "token_usage_updated",
        "turn_completed",
        "run_completed",
    ]
    started = result.events[1].data
    assert started["provider_session_id"] == result.provider_session_id
    assert started["model"] == "gpt-5.5"  # from the config.toml codex_env wrote
    assert (result.token_usage.input_tokens, result.token_usage.output_tokens) == (80, 9)
    calls = fake_model_server.model_requests("openai")
    assert len(calls) == 1
    assert "Say hello" in json.dumps(calls[0].body["input"])


async def test_tool_run_writes_the_file(
    codex_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script({"rules": TOOL_RULES})
    options = _options(
        fake_model_server, workspace, tmp_path, permission_mode=PermissionMode.ACCEPT_EDITS
    )
    result = await _manager(CodexAdapter(codex_binary)).run_once(
        "Please write the file", options=options
    )

    assert result.status is RunStatus.COMPLETED, result.error
    assert (workspace / "out.txt").read_text() == "hi\n"
    started = [e.data for e in result.events if e.type == "tool_call_started"]
    completed = [e.data for e in result.events if e.type == "tool_call_completed"]
    assert len(started) == len(completed) == 1
    assert started[0]["tool_call_id"] == completed[0]["tool_call_id"]
    assert started[0]["tool_name"] == "command_execution"
    assert "echo hi > out.txt && cat out.txt" in started[0]["tool_input"]["command"]
    assert completed[0]["tool_output"] == "hi\n"
    assert completed[0]["exit_code"] == 0
    assert (result.token_usage.input_tokens, result.token_usage.output_tokens) == (2100, 30)


async def test_native_resume_and_usage_per_run(
    codex_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
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
    options = _options(fake_model_server, workspace, tmp_path)
    store = InMemorySessionStore()
    session_id = await _new_session(SessionManager(store, CodexAdapter(codex_binary)))
    results = []
    # Each run gets a fresh adapter, as in separate `asm` processes: the second run's usage
    # baseline then comes from Codex's own rollout file.
    for prompt in ("first question", "second question"):
        manager = SessionManager(store, CodexAdapter(codex_binary), default_timeout=60)
        run = await manager.start_run(session_id, prompt)
        results.append(await manager.execute_run(run.id, options=options))
    first, second = results

    assert first.ok, first.error
    assert second.ok, second.error
    assert second.provider_session_id == first.provider_session_id
    history = json.dumps(fake_model_server.model_requests("openai")[-1].body["input"])
    assert "first question" in history
    assert "First answer." in history
    assert (first.token_usage.input_tokens, first.token_usage.output_tokens) == (40, 4)
    assert (second.token_usage.input_tokens, second.token_usage.output_tokens) == (60, 6)
    deltas = [e.data for e in second.events if e.type == "token_usage_updated"]
    assert [(d["input_tokens"], d["output_tokens"]) for d in deltas] == [(60, 6)]


async def test_default_mode_sandbox_denies_the_write(
    codex_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script({"rules": TOOL_RULES})
    result = await _manager(CodexAdapter(codex_binary)).run_once(
        "Please write the file", options=_options(fake_model_server, workspace, tmp_path)
    )

    assert result.status is RunStatus.COMPLETED, result.error
    assert not (workspace / "out.txt").exists()
    # Codex 0.169 often reports no item for a command the read-only sandbox refused (see the
    # harness notes); when it does report one, it is a failed call with a permission reason.
    failed = [e.data for e in result.events if e.type == "tool_call_failed"]
    assert not [e for e in result.events if e.type == "tool_call_completed"]
    for data in failed:
        assert data["reason"] == "permission_denied"
        assert "Read-only file system" in data["error_message"]
    assert "Read-only file system" in json.dumps(fake_model_server.model_requests()[-1].body)


async def test_tool_lists_are_refused_not_ignored(
    codex_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    options = _options(fake_model_server, workspace, tmp_path, denied_tools=("shell",))
    result = await _manager(CodexAdapter(codex_binary)).run_once("Say hello", options=options)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.code == "validation_error"
    assert "denied_tools" in result.error.message
    assert fake_model_server.model_requests() == []


async def test_cancel_mid_run_stops_the_process_group(
    codex_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script(
        {"rules": [rule(text("Thinking"), delay(60), text("never"), user_contains="slow")]}
    )
    adapter = CodexAdapter(codex_binary)
    manager = _manager(adapter)
    session_id = await _new_session(manager)
    options = _options(fake_model_server, workspace, tmp_path)
    run = await manager.start_run(session_id, "slow question")
    started = asyncio.Event()

    async def on_event(event: Event) -> None:
        if event.type == "run_started":
            started.set()

    task = asyncio.create_task(manager.execute_run(run.id, options=options, on_event=on_event))
    async with asyncio.timeout(30):
        await started.wait()
        await asyncio.to_thread(fake_model_server.wait_for_model_requests)  # call in flight
    process = adapter._runs.running(run.id)
    assert process is not None
    pgid = process.pgid

    began = time.monotonic()
    cancelled = await manager.cancel_run(run.id, reason="test")
    assert time.monotonic() - began < 2.0
    assert ours(pgid) == []  # nothing left in the group but zombies handed to init
    await asyncio.to_thread(wait_group_gone, pgid)  # ... which init reaps
    assert cancelled.status is RunStatus.CANCELLED
    assert (await task).status is RunStatus.CANCELLED

    fake_model_server.set_script(None)
    after = await manager.execute_run(
        (await manager.start_run(session_id, "are you there?")).id, options=options
    )
    assert after.ok, after.error


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(400, "provider_error", False), (529, "provider_overloaded", True)],
)
async def test_provider_http_errors_fail_the_run(
    codex_binary: str,
    fake_model_server: FakeModelServer,
    workspace: Path,
    tmp_path: Path,
    status: int,
    code: str,
    retryable: bool,
) -> None:
    fake_model_server.set_script({"rules": [rule(error(status, "scripted failure"))]})
    result = await _manager(CodexAdapter(codex_binary)).run_once(
        "Say hello", options=_options(fake_model_server, workspace, tmp_path)
    )

    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert (result.error.code, result.error.retryable) == (code, retryable)
    assert "scripted failure" in result.error.message
    assert result.events[-1].type == "run_failed"
    assert "run_completed" not in [e.type for e in result.events]
