"""The Amp adapter driving the real legacy ``amp`` (0.0.1767830505, the last release that runs
its agent loop in the client) against the fake model server, which also stubs Amp's bookkeeping
API. Today's Amp runs its loop on Amp's servers and cannot be faked (see docs/providers.md)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from agent_session_manager import (
    AdapterOptions,
    AmpAdapter,
    InMemorySessionStore,
    PermissionMode,
    RunStatus,
    SessionManager,
)
from agent_session_manager.testing.fake_model import FakeModelServer, delay, error, rule, text
from tests.support.process_groups import ours, wait_group_gone
from tests.support.provider_scripts import AMP_STUBS, AMP_TITLE_RULE, TOOL_RULES, amp_env


def _script(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"rules": [AMP_TITLE_RULE, *rules], "stubs": AMP_STUBS}


def _options(
    server: FakeModelServer, workspace: Path, tmp_path: Path, **more: Any
) -> AdapterOptions:
    return AdapterOptions(cwd=str(workspace), env=amp_env(server.url, tmp_path / "home"), **more)


def _manager(adapter: AmpAdapter) -> SessionManager:
    return SessionManager(InMemorySessionStore(), adapter, default_timeout=60)


def _main_calls(server: FakeModelServer) -> list[Any]:
    return [r for r in server.model_requests("anthropic") if "haiku" not in r.body["model"]]


async def _new_session(manager: SessionManager) -> str:
    session = await manager.start_session()
    await manager.activate_session(session.id)
    return session.id


async def test_plain_text_run(
    amp_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script(
        _script(
            rule(text("Hello from the fake model!"), usage={"input_tokens": 50, "output_tokens": 7})
        )
    )
    result = await _manager(AmpAdapter(amp_binary)).run_once(
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
    assert started["provider"] == "amp"
    assert started["provider_session_id"].startswith("T-")
    assert (result.token_usage.input_tokens, result.token_usage.output_tokens) == (50, 7)
    calls = _main_calls(fake_model_server)
    assert len(calls) == 1
    assert calls[0].path == "/api/provider/anthropic/v1/messages"
    assert "Say hello" in json.dumps(calls[0].body["messages"])


async def test_tool_run_writes_the_file(
    amp_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script(_script(*TOOL_RULES))
    options = _options(
        fake_model_server, workspace, tmp_path, permission_mode=PermissionMode.FULL_AUTO
    )
    result = await _manager(AmpAdapter(amp_binary)).run_once(
        "Please write the file", options=options
    )

    assert result.status is RunStatus.COMPLETED, result.error
    assert (workspace / "out.txt").read_text() == "hi\n"
    started = [e.data for e in result.events if e.type == "tool_call_started"]
    completed = [e.data for e in result.events if e.type == "tool_call_completed"]
    assert len(started) == len(completed) == 1
    assert started[0]["tool_call_id"] == completed[0]["tool_call_id"]
    assert started[0]["tool_name"] == "Bash"
    assert started[0]["tool_input"]["cmd"] == "echo hi > out.txt && cat out.txt"
    assert completed[0]["tool_output"] == "hi\n"
    assert completed[0]["exit_code"] == 0
    assert (result.token_usage.input_tokens, result.token_usage.output_tokens) == (2100, 30)


async def test_native_resume_continues_the_thread_with_usage_per_run(
    amp_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script(
        _script(
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
        )
    )
    manager = _manager(AmpAdapter(amp_binary))
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
    assert second.content == "Second answer."
    history = json.dumps(_main_calls(fake_model_server)[-1].body["messages"])
    assert "first question" in history
    assert "First answer." in history
    assert (first.token_usage.input_tokens, first.token_usage.output_tokens) == (40, 4)
    assert (second.token_usage.input_tokens, second.token_usage.output_tokens) == (60, 6)


async def test_cancel_mid_run_stops_the_process_group(
    amp_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script(
        _script(rule(text("Thinking"), delay(60), text("never sent"), user_contains="slow"))
    )
    adapter = AmpAdapter(amp_binary)
    manager = _manager(adapter)
    session_id = await _new_session(manager)
    options = _options(fake_model_server, workspace, tmp_path)
    run = await manager.start_run(session_id, "slow question")
    task = asyncio.create_task(manager.execute_run(run.id, options=options))
    # Amp prints a reply only once it is complete: wait for the (stalled) main model call.
    calls = await asyncio.to_thread(fake_model_server.wait_for_model_requests, 2, 60)
    assert any("slow question" in json.dumps(c.body) for c in calls)
    process = adapter._runs.running(run.id)
    assert process is not None
    pgid = process.pgid

    began = time.monotonic()
    cancelled = await manager.cancel_run(run.id, reason="test")
    assert time.monotonic() - began < 2.0
    assert ours(pgid) == []
    await asyncio.to_thread(wait_group_gone, pgid)
    assert cancelled.status is RunStatus.CANCELLED
    assert (await task).status is RunStatus.CANCELLED

    fake_model_server.set_script(_script())
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
    amp_binary: str,
    fake_model_server: FakeModelServer,
    workspace: Path,
    tmp_path: Path,
    status: int,
    code: str,
    retryable: bool,
) -> None:
    fake_model_server.set_script(_script(rule(error(status, "scripted failure"))))
    result = await _manager(AmpAdapter(amp_binary)).run_once(
        "Say hello", options=_options(fake_model_server, workspace, tmp_path)
    )

    assert result.status is RunStatus.FAILED  # amp exits 0 with is_error: never "completed"
    assert result.error is not None
    assert (result.error.code, result.error.retryable) == (code, retryable)
    failed = result.events[-1]
    assert failed.type == "run_failed"
    assert failed.data["details"]["http_status"] == status
    if status == 400:
        assert result.error.message == "scripted failure"


async def test_unsupported_options_are_refused(
    fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    manager = _manager(AmpAdapter("/nonexistent/amp"))
    for more in (
        {"permission_mode": PermissionMode.PLAN},
        {"model": "claude-opus"},
        {"system_prompt": "be brief"},
    ):
        result = await manager.run_once(
            "hi", options=_options(fake_model_server, workspace, tmp_path, **more)
        )
        assert result.status is RunStatus.FAILED
        assert result.error is not None
        assert result.error.code == "validation_error", more


async def test_denied_tools_reach_amp_as_reject_rules(
    amp_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script(_script(*TOOL_RULES))
    options = _options(
        fake_model_server,
        workspace,
        tmp_path,
        permission_mode=PermissionMode.FULL_AUTO,
        denied_tools=("Bash",),
    )
    result = await _manager(AmpAdapter(amp_binary)).run_once(
        "Please write the file", options=options
    )

    assert result.status is RunStatus.COMPLETED, result.error
    assert not (workspace / "out.txt").exists()
    failed = [e.data for e in result.events if e.type == "tool_call_failed"]
    assert len(failed) == 1
    assert failed[0]["reason"] == "permission_denied"
    assert "reject Bash" in failed[0]["error_message"]


async def test_allowed_tools_go_in_front_of_the_users_own_rules(
    amp_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script(_script(*TOOL_RULES))
    options = _options(fake_model_server, workspace, tmp_path, allowed_tools=("Bash",))
    user_settings = Path(options.env["XDG_CONFIG_HOME"]) / "amp" / "settings.json"
    user_settings.parent.mkdir(parents=True)
    own = {"amp.permissions": [{"tool": "Bash", "action": "reject"}], "amp.notifications": False}
    user_settings.write_text(json.dumps(own))

    result = await _manager(AmpAdapter(amp_binary)).run_once(
        "Please write the file", options=options
    )

    assert result.status is RunStatus.COMPLETED, result.error
    assert (workspace / "out.txt").exists()
    assert json.loads(user_settings.read_text()) == own  # the user's file is left alone
    assert [e.type for e in result.events if e.type.startswith("tool_call")] == [
        "tool_call_started",
        "tool_call_completed",
    ]


@pytest.mark.parametrize("prompt", ["-x marks the spot", "long " * 40_000], ids=["dash", "long"])
async def test_prompts_that_cannot_be_an_argument_go_through_stdin(
    amp_binary: str,
    fake_model_server: FakeModelServer,
    workspace: Path,
    tmp_path: Path,
    prompt: str,
) -> None:
    fake_model_server.set_script(_script())
    result = await _manager(AmpAdapter(amp_binary)).run_once(
        prompt, options=_options(fake_model_server, workspace, tmp_path)
    )

    assert result.ok, result.error
    assert prompt.strip() in json.dumps(_main_calls(fake_model_server)[0].body["messages"])
