"""The Shell adapter running real commands in their own process groups."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent_session_manager import (
    AdapterOptions,
    Event,
    PermissionMode,
    RunStatus,
    SessionManager,
    ShellAdapter,
)
from tests.support.process_groups import group_members, ours, wait_group_gone


async def _new_session(manager: SessionManager) -> str:
    session = await manager.start_session()
    await manager.activate_session(session.id)
    return session.id


async def test_exit_zero_completes_with_stdout(
    manager_for: Callable[[Any], SessionManager], workspace: Path
) -> None:
    manager = manager_for(ShellAdapter())
    result = await manager.run_once(
        "echo hello; echo world > made.txt", options=AdapterOptions(cwd=str(workspace))
    )

    assert result.status is RunStatus.COMPLETED, result.error
    assert result.content == "hello\n"
    assert (workspace / "made.txt").read_text() == "world\n"
    assert [e.type for e in result.events] == [
        "message_sent",
        "run_started",
        "tool_call_started",
        "message_streamed",
        "tool_call_completed",
        "message_received",
        "run_completed",
    ]
    started = result.events[2].data
    assert started["tool_name"] == "shell"
    assert started["tool_input"] == {"command": "echo hello; echo world > made.txt"}
    completed = result.events[4].data
    assert completed["tool_call_id"] == started["tool_call_id"]
    assert completed["tool_output"] == "hello\n"
    assert result.events[1].data["provider"] == "shell"


async def test_command_from_extra_as_argv(
    manager_for: Callable[[Any], SessionManager], workspace: Path
) -> None:
    manager = manager_for(ShellAdapter())
    options = AdapterOptions(cwd=str(workspace), extra={"command": ["printf", "%s-%s", "a", "b"]})
    result = await manager.run_once("ignored prompt", options=options)

    assert result.ok, result.error
    assert result.content == "a-b"
    assert result.events[2].data["tool_input"] == {"command": ["printf", "%s-%s", "a", "b"]}


async def test_streams_stdout_as_it_comes(
    manager_for: Callable[[Any], SessionManager], workspace: Path
) -> None:
    manager = manager_for(ShellAdapter())
    script = "echo one; sleep 0.2; echo two"
    result = await manager.run_once(script, options=AdapterOptions(cwd=str(workspace)))

    assert result.ok, result.error
    deltas = [e.data["delta"] for e in result.events if e.type == "message_streamed"]
    assert deltas == ["one\n", "two\n"]
    assert result.content == "one\ntwo\n"


async def test_non_zero_exit_fails_with_code_and_stderr(
    manager_for: Callable[[Any], SessionManager], workspace: Path
) -> None:
    manager = manager_for(ShellAdapter())
    result = await manager.run_once(
        "echo partial; echo 'something broke' >&2; exit 3",
        options=AdapterOptions(cwd=str(workspace)),
    )

    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.code == "provider_error"
    assert result.error.retryable is False
    assert result.error.details["exit_code"] == 3
    assert "something broke" in result.error.details["stderr"]
    assert "exited with code 3" in result.error.message
    types = [e.type for e in result.events]
    assert types[-2:] == ["tool_call_failed", "run_failed"]
    assert "run_completed" not in types
    failed = result.events[-2].data
    assert failed["tool_output"] == "partial\n"
    assert failed["reason"] == "tool_error"
    assert result.events[-1].data["details"]["exit_code"] == 3


async def test_timeout_ends_timed_out_and_stops_the_group(
    manager_for: Callable[[Any], SessionManager], workspace: Path
) -> None:
    adapter = ShellAdapter()
    manager = manager_for(adapter)
    session_id = await _new_session(manager)
    run = await manager.start_run(session_id, "sleep 60 & sleep 60; echo never")
    groups: list[int] = []

    async def on_event(event: Event) -> None:
        if event.type == "tool_call_started":
            process = adapter.running(run.id)
            assert process is not None
            groups.append(process.pgid)

    result = await manager.execute_run(
        run.id, options=AdapterOptions(cwd=str(workspace)), timeout=0.5, on_event=on_event
    )

    assert result.status is RunStatus.TIMED_OUT
    assert result.events[-1].type == "run_timed_out"
    assert groups
    assert ours(groups[0]) == []  # the backgrounded sleep went with the group
    await asyncio.to_thread(wait_group_gone, groups[0])  # (init reaps its orphaned zombie)


async def test_cancel_kills_the_group_within_two_seconds(
    manager_for: Callable[[Any], SessionManager], workspace: Path
) -> None:
    adapter = ShellAdapter()
    manager = manager_for(adapter)
    session_id = await _new_session(manager)
    options = AdapterOptions(cwd=str(workspace))
    # The command ignores SIGTERM (an ignored signal stays ignored across exec), so the stop
    # has to escalate to SIGKILL.
    run = await manager.start_run(session_id, "trap '' TERM; echo started; exec sleep 60")
    streaming = asyncio.Event()

    async def on_event(event: Event) -> None:
        if event.type == "message_streamed":
            streaming.set()

    task = asyncio.create_task(manager.execute_run(run.id, options=options, on_event=on_event))
    async with asyncio.timeout(10):
        await streaming.wait()
    process = adapter.running(run.id)
    assert process is not None
    pgid = process.pgid
    assert group_members(pgid)

    began = time.monotonic()
    cancelled = await manager.cancel_run(run.id, reason="test")
    assert time.monotonic() - began < 2.0
    assert ours(pgid) == []
    await asyncio.to_thread(wait_group_gone, pgid)
    assert cancelled.status is RunStatus.CANCELLED
    assert (await task).status is RunStatus.CANCELLED

    after = await manager.execute_run(
        (await manager.start_run(session_id, "echo still usable")).id, options=options
    )
    assert after.ok, after.error
    assert after.content == "still usable\n"


async def test_plan_mode_and_tool_lists_are_refused(
    manager_for: Callable[[Any], SessionManager], workspace: Path
) -> None:
    manager = manager_for(ShellAdapter())
    plan = await manager.run_once(
        "touch nope", options=AdapterOptions(permission_mode=PermissionMode.PLAN)
    )
    assert plan.status is RunStatus.FAILED
    assert plan.error is not None
    assert plan.error.code == "validation_error"
    listed = await manager.run_once("true", options=AdapterOptions(allowed_tools=("Bash",)))
    assert listed.status is RunStatus.FAILED
    assert not (workspace / "nope").exists()


async def test_missing_command_fails_cleanly(
    manager_for: Callable[[Any], SessionManager], workspace: Path
) -> None:
    manager = manager_for(ShellAdapter())
    result = await manager.run_once(
        "x", options=AdapterOptions(extra={"command": ["/nonexistent/asm-shell-test"]})
    )
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.code == "provider_unavailable"
