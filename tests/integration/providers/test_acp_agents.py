"""The ACP adapter driving the real claude-code-acp and codex-acp agents against the fake model
server (claude-code-acp runs the pinned native ``claude`` through ``CLAUDE_CODE_EXECUTABLE``, so
nothing looks up a host), plus small fake agents that break the protocol."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent_session_manager import (
    ACPAdapter,
    AdapterOptions,
    Event,
    PermissionMode,
    RunStatus,
    SessionManager,
)
from agent_session_manager.testing.cli_env import claude_env, codex_env
from agent_session_manager.testing.fake_model import FakeModelServer, delay, error, rule, text
from tests.support.process_groups import group_members, ours, wait_group_gone
from tests.support.provider_scripts import TOOL_RULES

Setup = Callable[..., tuple[ACPAdapter, AdapterOptions]]


@pytest.fixture(params=["claude", "codex"])
def agent(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def setup(
    agent: str,
    request: pytest.FixtureRequest,
    fake_model_server: FakeModelServer,
    workspace: Path,
    tmp_path: Path,
) -> Setup:
    """``setup(**options)`` → the adapter for ``agent`` and options pointing it at the fake."""

    def make(**overrides: Any) -> tuple[ACPAdapter, AdapterOptions]:
        if agent == "claude":
            command = request.getfixturevalue("claude_acp_binary")
            env = claude_env(fake_model_server.url, tmp_path / "home")
            env["CLAUDE_CODE_EXECUTABLE"] = request.getfixturevalue("claude_binary")
        else:
            command = request.getfixturevalue("codex_acp_binary")
            env = codex_env(fake_model_server.openai_base_url, tmp_path / "home")
        options = AdapterOptions(cwd=str(workspace), env=env, **overrides)
        return ACPAdapter([command], name=f"acp-{agent}"), options

    return make


def _manager(adapter: ACPAdapter) -> SessionManager:
    from agent_session_manager import InMemorySessionStore

    return SessionManager(InMemorySessionStore(), adapter, default_timeout=60)


def _squash(types: list[str]) -> list[str]:
    out: list[str] = []
    for kind in types:
        if not (out and kind == out[-1] == "message_streamed"):
            out.append(kind)
    return [t for t in out if t != "context_usage_updated"]


async def _new_session(manager: SessionManager) -> str:
    session = await manager.start_session()
    await manager.activate_session(session.id)
    return session.id


async def test_plain_text_run(setup: Setup, fake_model_server: FakeModelServer) -> None:
    adapter, options = setup()
    result = await _manager(adapter).run_once("Say hello", options=options)

    assert result.status is RunStatus.COMPLETED, result.error
    assert result.content == "Hello from the fake model!"
    assert _squash([e.type for e in result.events]) == [
        "message_sent",
        "run_started",
        "message_streamed",
        "message_received",
        "turn_completed",
        "run_completed",
    ]
    started = result.events[1].data
    assert started["provider"] == adapter.name
    assert started["provider_session_id"] == result.provider_session_id
    streamed = "".join(e.data["delta"] for e in result.events if e.type == "message_streamed")
    assert streamed == "Hello from the fake model!"
    # Neither agent reports token counts over ACP (codex-acp only its context window fill).
    assert result.token_usage.total_tokens == 0
    calls = fake_model_server.model_requests()
    assert calls
    assert "Say hello" in json.dumps(calls[-1].body)


async def test_tool_run_writes_the_file(
    agent: str, setup: Setup, fake_model_server: FakeModelServer, workspace: Path
) -> None:
    fake_model_server.set_script({"rules": TOOL_RULES})
    adapter, options = setup(permission_mode=PermissionMode.FULL_AUTO)
    result = await _manager(adapter).run_once("Please write the file", options=options)

    assert result.status is RunStatus.COMPLETED, result.error
    assert (workspace / "out.txt").read_text() == "hi\n"
    started = [e.data for e in result.events if e.type == "tool_call_started"]
    completed = [e.data for e in result.events if e.type == "tool_call_completed"]
    assert len(started) == len(completed) == 1
    assert started[0]["tool_call_id"] == completed[0]["tool_call_id"]
    assert started[0]["tool_call_id"]
    if agent == "claude":
        assert started[0]["tool_name"] == "Bash"
        assert started[0]["tool_input"] == {"command": "echo hi > out.txt && cat out.txt"}
        assert completed[0]["tool_output"] == "hi"
    else:
        assert started[0]["tool_name"] == "execute"
        assert started[0]["tool_input"]["command"][-1] == "echo hi > out.txt && cat out.txt"
        assert completed[0]["tool_output"]["aggregated_output"] == "hi\n"
    assert result.content.startswith("The command ran. Output: ")


async def test_native_resume_loads_the_session(
    setup: Setup, fake_model_server: FakeModelServer
) -> None:
    fake_model_server.set_script(
        {
            "rules": [
                rule(text("First answer."), user_contains="first"),
                rule(text("Second answer."), user_contains="second"),
            ]
        }
    )
    adapter, options = setup()
    manager = _manager(adapter)
    session_id = await _new_session(manager)
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
    # The replayed history is not reported as the second run's events.
    assert [e.data["content"] for e in second.events if e.type == "message_received"] == [
        "Second answer."
    ]
    session = await manager.get_session(session_id)
    handle = session.provider_handles[adapter.name]
    assert handle.provider_session_id == first.provider_session_id
    history = json.dumps(fake_model_server.model_requests()[-1].body)
    assert "first question" in history
    assert "First answer." in history


async def test_cancel_mid_run_stops_the_process_group(
    setup: Setup, fake_model_server: FakeModelServer
) -> None:
    fake_model_server.set_script(
        {
            "rules": [
                rule(text("Thinking about it"), delay(60), text("never sent"), user_contains="slow")
            ]
        }
    )
    adapter, options = setup()
    manager = _manager(adapter)
    session_id = await _new_session(manager)
    run = await manager.start_run(session_id, "slow question")
    streaming = asyncio.Event()

    async def on_event(event: Event) -> None:
        if event.type == "message_streamed":
            streaming.set()

    task = asyncio.create_task(manager.execute_run(run.id, options=options, on_event=on_event))
    async with asyncio.timeout(60):
        await streaming.wait()
    process = adapter.running(run.id)
    assert process is not None
    pgid = process.pgid
    assert group_members(pgid)

    began = time.monotonic()
    cancelled = await manager.cancel_run(run.id, reason="test")
    assert time.monotonic() - began < 2.0
    # The node wrapper and its native agent are gone; only zombies handed to init may remain...
    assert ours(pgid) == []
    await asyncio.to_thread(wait_group_gone, pgid)  # ... which init reaps
    assert cancelled.status is RunStatus.CANCELLED
    assert (await task).status is RunStatus.CANCELLED

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
    setup: Setup,
    fake_model_server: FakeModelServer,
    status: int,
    code: str,
    retryable: bool,
) -> None:
    fake_model_server.set_script({"rules": [rule(error(status, "scripted failure"))]})
    adapter, options = setup()
    result = await _manager(adapter).run_once("Say hello", options=options)

    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert (result.error.code, result.error.retryable) == (code, retryable)
    assert "scripted failure" in result.error.message
    failed = result.events[-1]
    assert failed.type == "run_failed"
    assert failed.data["details"]["http_status"] == status
    assert "run_completed" not in [e.type for e in result.events]


# -- permissions (claude-code-acp asks the client before running Bash) -------------------------
@pytest.mark.parametrize("agent", ["claude"])
async def test_default_mode_denies_the_write_as_a_failed_tool_call(
    setup: Setup, fake_model_server: FakeModelServer, workspace: Path
) -> None:
    fake_model_server.set_script({"rules": TOOL_RULES})
    adapter, options = setup()
    result = await _manager(adapter).run_once("Please write the file", options=options)

    assert result.status is RunStatus.COMPLETED, result.error
    assert not (workspace / "out.txt").exists()
    failed = [e.data for e in result.events if e.type == "tool_call_failed"]
    assert len(failed) == 1
    assert failed[0]["reason"] == "permission_denied"
    assert failed[0]["tool_name"] == "Bash"
    assert "permission_mode=default" in failed[0]["error_message"]


@pytest.mark.parametrize("agent", ["claude"])
async def test_allowed_tools_approve_and_denied_tools_refuse(
    setup: Setup, fake_model_server: FakeModelServer, workspace: Path
) -> None:
    fake_model_server.set_script({"rules": TOOL_RULES})
    adapter, options = setup(allowed_tools=("Bash",))
    allowed = await _manager(adapter).run_once("Please write the file", options=options)
    assert allowed.ok, allowed.error
    assert (workspace / "out.txt").exists()
    (workspace / "out.txt").unlink()

    fake_model_server.set_script({"rules": TOOL_RULES})
    adapter, options = setup(permission_mode=PermissionMode.FULL_AUTO, denied_tools=("Bash",))
    denied = await _manager(adapter).run_once("Please write the file", options=options)
    assert not (workspace / "out.txt").exists()
    failed = [e.data for e in denied.events if e.type == "tool_call_failed"]
    assert [f["reason"] for f in failed] == ["permission_denied"]
    assert "denied_tools" in failed[0]["error_message"]


# -- agents that break the protocol ------------------------------------------------------------
_FAKE_AGENT = r"""
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    method, ident = msg.get("method"), msg.get("id")
    if method == "initialize":
        result = {"protocolVersion": 1, "agentCapabilities": {"loadSession": False}}
    elif method == "session/new":
        result = {"sessionId": "fake-session"}
    elif method == "session/prompt":
        chunk = {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "Hi"}}
        note = {"jsonrpc": "2.0", "method": "session/update",
                "params": {"sessionId": "fake-session", "update": chunk}}
        print(json.dumps(note), flush=True)
        if MODE == "malformed":
            print("this is not json", flush=True)
        else:
            print("agent crashed", file=sys.stderr, flush=True)
            sys.exit(3)
        continue
    else:
        continue
    print(json.dumps({"jsonrpc": "2.0", "id": ident, "result": result}), flush=True)
"""


@pytest.mark.parametrize("mode", ["malformed", "dies"])
async def test_a_broken_agent_fails_the_run_keeping_earlier_events(
    tmp_path: Path, workspace: Path, mode: str
) -> None:
    script = tmp_path / "fake_agent.py"
    script.write_text(f"MODE = {mode!r}\n" + _FAKE_AGENT)
    adapter = ACPAdapter([sys.executable, str(script)])
    result = await _manager(adapter).run_once("hi", options=AdapterOptions(cwd=str(workspace)))

    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.code == "provider_protocol_error"
    if mode == "malformed":
        assert "malformed JSON-RPC line" in result.error.message
        assert result.error.details["line"] == "this is not json"
    else:
        assert "exited with code 3" in result.error.message
        assert "agent crashed" in result.error.message
    assert [e.data["delta"] for e in result.events if e.type == "message_streamed"] == ["Hi"]
    assert result.events[-1].type == "run_failed"


async def test_resume_on_an_agent_without_load_session_fails_clearly(
    tmp_path: Path, workspace: Path
) -> None:
    script = tmp_path / "fake_agent.py"
    script.write_text("MODE = 'dies'\n" + _FAKE_AGENT)
    adapter = ACPAdapter(f"{sys.executable} {script}")
    manager = _manager(adapter)
    session_id = await _new_session(manager)
    run = await manager.start_run(session_id, "hi")
    from agent_session_manager.providers.protocol import Message, RunRequest

    request = RunRequest(
        run_id=run.id,
        session_id=session_id,
        messages=(Message(role="user", content="hi"),),
        options=AdapterOptions(cwd=str(workspace)),
        provider_session_id="earlier-session",
    )
    with pytest.raises(Exception, match="cannot load sessions"):
        async for _ in adapter.stream(request):
            pass


async def test_resume_of_a_session_the_agent_never_saved_goes_on_in_a_new_one(
    setup: Setup, workspace: Path
) -> None:
    # E.g. the earlier run was cancelled before the agent wrote its session to disk.
    from agent_session_manager.providers.protocol import Message, RunRequest

    adapter, options = setup()
    request = RunRequest(
        run_id="run_lost",
        session_id="ses_lost",
        messages=(Message(role="user", content="Say hello"),),
        options=options,
        provider_session_id="0198a3f1-0000-7000-8000-000000000000",
    )
    events = [event async for event in adapter.stream(request)]

    lost = [e.data for e in events if e.type == "error_occurred"]
    assert len(lost) == 1
    assert "0198a3f1-0000-7000-8000-000000000000" in lost[0]["error_message"]
    started = next(e.data for e in events if e.type == "run_started")
    assert started["provider_session_id"] != "0198a3f1-0000-7000-8000-000000000000"
    assert events[-1].type == "run_completed"
    assert events[-1].data["content"] == "Hello from the fake model!"


async def test_model_goes_through_the_agents_model_option(
    agent: str, setup: Setup, fake_model_server: FakeModelServer
) -> None:
    adapter, options = setup(model="gpt-5.4")
    result = await _manager(adapter).run_once("Say hello", options=options)

    if agent == "codex":  # codex-acp offers a "model" config option
        assert result.ok, result.error
        assert result.events[1].data["model"] == "gpt-5.4"
        assert fake_model_server.model_requests()[-1].body["model"] == "gpt-5.4"
    else:  # claude-code-acp 0.16.2 only has the unstable session/set_model
        assert result.status is RunStatus.FAILED
        assert result.error is not None
        assert result.error.code == "validation_error"
        assert "no model choice" in result.error.message


async def test_a_missing_agent_command_is_provider_unavailable(workspace: Path) -> None:
    adapter = ACPAdapter("/nonexistent/asm-acp-agent --flag")
    assert adapter.argv == ("/nonexistent/asm-acp-agent", "--flag")
    result = await _manager(adapter).run_once("hi", options=AdapterOptions(cwd=str(workspace)))
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert (result.error.code, result.error.retryable) == ("provider_unavailable", False)


async def test_system_prompt_is_refused(workspace: Path) -> None:
    adapter = ACPAdapter([sys.executable, "-c", "pass"])
    options = AdapterOptions(cwd=str(workspace), system_prompt="be brief")
    result = await _manager(adapter).run_once("hi", options=options)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.code == "validation_error"


@pytest.mark.parametrize("agent", ["claude"])
async def test_accept_edits_reaches_the_agent_as_its_mode(
    setup: Setup, fake_model_server: FakeModelServer, workspace: Path
) -> None:
    # In Claude Code's acceptEdits mode a redirect into a workspace file is an edit: it runs
    # without a permission request (in the default mode the same write is denied, above).
    fake_model_server.set_script({"rules": TOOL_RULES})
    adapter, options = setup(permission_mode=PermissionMode.ACCEPT_EDITS)
    result = await _manager(adapter).run_once("Please write the file", options=options)

    assert result.status is RunStatus.COMPLETED, result.error
    assert (workspace / "out.txt").read_text() == "hi\n"
    assert [e.type for e in result.events if e.type.startswith("tool_call")] == [
        "tool_call_started",
        "tool_call_completed",
    ]
