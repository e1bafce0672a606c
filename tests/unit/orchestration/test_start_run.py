"""``start_run`` creates a pending run in an active session, or in a paused one when asked."""

from __future__ import annotations

import pytest

from agent_session_manager import (
    InMemorySessionStore,
    InvalidTransition,
    RunStatus,
    Scenario,
    ScriptedAdapter,
    SessionManager,
)


async def test_a_paused_session_takes_a_run_only_when_allowed_and_runs_it_after_resume() -> None:
    manager = SessionManager(InMemorySessionStore(), ScriptedAdapter(Scenario().text("done")))
    session = await manager.start_session()
    await manager.activate_session(session.id)
    await manager.pause_session(session.id)
    with pytest.raises(InvalidTransition):
        await manager.start_run(session.id, "hi")
    run = await manager.start_run(session.id, "hi", allow_paused=True)
    assert run.status is RunStatus.PENDING
    with pytest.raises(InvalidTransition):  # executing still needs an active session
        await manager.execute_run(run.id)
    await manager.resume_session(session.id)
    assert (await manager.execute_run(run.id)).content == "done"


async def test_allow_paused_does_not_open_an_ended_or_pending_session() -> None:
    manager = SessionManager(InMemorySessionStore(), ScriptedAdapter(Scenario()))
    pending = await manager.start_session()
    ended = await manager.start_session()
    await manager.activate_session(ended.id)
    await manager.complete_session(ended.id)
    for session in (pending, ended):
        with pytest.raises(InvalidTransition):
            await manager.start_run(session.id, "hi", allow_paused=True)
