"""Run integrity under races between managers in one process (two managers on one store).

Exactly one terminal event and one stored outcome, whoever ends the run; one executor per run;
a cancel from another manager stops the adapter; a hanging adapter never hangs a timeout. The
same races across OS processes, on SQLite and PostgreSQL, are in
tests/integration/orchestration/test_run_integrity_processes.py.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent_session_manager import (
    ConcurrencyError,
    InMemorySessionStore,
    ProviderEvent,
    RunRequest,
    RunStatus,
    Scenario,
    ScriptedAdapter,
    SessionManager,
    SessionServer,
    SessionStatus,
)
from agent_session_manager.core.events import TERMINAL_RUN_EVENTS


async def _pending_run(manager: SessionManager, prompt: str = "go") -> tuple[str, str]:
    session = await manager.start_session("agent")
    await manager.activate_session(session.id)
    run = await manager.start_run(session.id, prompt)
    return session.id, run.id


async def _terminal_types(store: InMemorySessionStore, session_id: str, run_id: str) -> list[str]:
    events = await store.get_events(session_id, run_id=run_id)
    assert events[-1].type in TERMINAL_RUN_EVENTS, "an event follows the terminal one"
    return [e.type for e in events if e.type in TERMINAL_RUN_EVENTS]


class _HoldingStore(InMemorySessionStore):
    """Holds the first guarded write that ends a run until ``gate`` opens: the window between
    the executor reading its run and flushing its final state."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.holding = asyncio.Event()

    async def flush(self, *, run: Any = None, **parts: Any) -> Any:
        if run is not None and run.status.is_terminal and not self.gate.is_set():
            self.holding.set()
            await self.gate.wait()
        return await super().flush(run=run, **parts)


async def test_a_cancel_between_reading_and_flushing_the_final_state_wins_alone() -> None:
    store = _HoldingStore()
    first = SessionManager(store, ScriptedAdapter(Scenario().text("done")))
    second = SessionManager(store, ScriptedAdapter(Scenario()))
    session_id, run_id = await _pending_run(first)
    execution = asyncio.create_task(first.execute_run(run_id))
    await store.holding.wait()  # the executor is about to write run_completed
    store.gate.set()  # let the canceller's own guarded write through first
    cancelled = await second.cancel_run(run_id, reason="from elsewhere")
    result = await execution
    assert cancelled.status is RunStatus.CANCELLED
    # The executor's write found the run cancelled: it wrote nothing and reports that outcome.
    assert result.status is RunStatus.CANCELLED
    assert (await store.get_run(run_id)).status is RunStatus.CANCELLED
    assert await _terminal_types(store, session_id, run_id) == ["run_cancelled"]


async def test_two_managers_executing_one_run_call_the_provider_once() -> None:
    store = InMemorySessionStore()
    adapters = [ScriptedAdapter(Scenario().delay(0.05).text("done")) for _ in range(2)]
    managers = [SessionManager(store, adapter) for adapter in adapters]
    session_id, run_id = await _pending_run(managers[0])
    outcomes = await asyncio.gather(
        *(m.execute_run(run_id) for m in managers), return_exceptions=True
    )
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(errors) == 1
    assert isinstance(errors[0], ConcurrencyError)
    assert errors[0].code == "run_already_active"
    assert sum(len(a.requests) for a in adapters) == 1
    events = await store.get_events(session_id, run_id=run_id)
    assert [e.type for e in events].count("run_started") == 1
    assert await _terminal_types(store, session_id, run_id) == ["run_completed"]


@pytest.mark.parametrize("activity", ["quiet", "busy"])
async def test_a_cancel_from_another_manager_stops_the_executing_adapter(activity: str) -> None:
    store = InMemorySessionStore()
    if activity == "quiet":
        scenario = Scenario().text("started").delay(math.inf)
    else:
        scenario = Scenario()
        for _ in range(500):
            scenario = scenario.stream(1, "tick").delay(0.01)
    executor = SessionManager(store, ScriptedAdapter(scenario))
    canceller = SessionManager(store, ScriptedAdapter(Scenario()))
    session_id, run_id = await _pending_run(executor)
    execution = asyncio.create_task(executor.execute_run(run_id))
    await asyncio.sleep(0.3)
    assert not execution.done()
    cancelled_at = time.monotonic()
    await canceller.cancel_run(run_id, reason="stop it")
    result = await asyncio.wait_for(execution, 5)
    assert time.monotonic() - cancelled_at < 2.0
    assert result.status is RunStatus.CANCELLED
    assert result.run.error is not None
    assert await _terminal_types(store, session_id, run_id) == ["run_cancelled"]
    last = (await store.get_events(session_id, run_id=run_id))[-1]
    assert last.data == {"reason": "stop it"}
    await asyncio.sleep(0.2)  # nothing more arrives after the terminal event
    assert (await store.get_events(session_id, run_id=run_id))[-1] == last


class _StubbornAdapter(ScriptedAdapter):
    """An adapter whose ``cancel`` never returns and whose stream ignores cancellation (for
    two seconds: then it ends, so the test's event loop can close)."""

    def __init__(self) -> None:
        super().__init__(Scenario())

    async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
        yield ProviderEvent("message_streamed", {"delta": "x"})
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                await asyncio.sleep(deadline - time.monotonic())
            except asyncio.CancelledError:
                continue  # refuses to stop

    async def cancel(self, run_id: str) -> None:
        await asyncio.Event().wait()


async def test_a_timeout_ends_the_run_even_when_the_adapter_will_not_stop() -> None:
    store = InMemorySessionStore()
    manager = SessionManager(store, _StubbornAdapter(), cancel_grace=0.3)
    started = time.monotonic()
    result = await asyncio.wait_for(manager.run_once("x", timeout=0.2), 5)
    assert time.monotonic() - started < 2.0
    assert result.status is RunStatus.TIMED_OUT
    assert await _terminal_types(store, result.session_id, result.run_id) == ["run_timed_out"]
    assert result.session.status is SessionStatus.FAILED


async def test_completing_a_session_while_a_run_executes_is_refused() -> None:
    store = InMemorySessionStore()
    manager = SessionManager(store, ScriptedAdapter(Scenario().delay(math.inf)))
    session_id, run_id = await _pending_run(manager)
    execution = asyncio.create_task(manager.execute_run(run_id))
    await asyncio.sleep(0.05)
    with pytest.raises(ConcurrencyError) as caught:
        await manager.complete_session(session_id)
    assert caught.value.code == "session_busy"
    assert caught.value.details["running_runs"] == [run_id]
    assert (await manager.get_session(session_id)).status is SessionStatus.ACTIVE
    await manager.cancel_run(run_id)
    await execution
    assert (await manager.complete_session(session_id)).status is SessionStatus.COMPLETED
    events = await store.get_events(session_id)
    assert events[-1].type == "session_completed"


async def test_cancelling_a_session_cancels_runs_executing_in_another_manager() -> None:
    store = InMemorySessionStore()
    executor = SessionManager(store, ScriptedAdapter(Scenario().delay(math.inf)))
    other = SessionManager(store, ScriptedAdapter(Scenario()))
    session_id, run_id = await _pending_run(executor)
    waiting = await executor.start_run(session_id, "later")
    execution = asyncio.create_task(executor.execute_run(run_id))
    await asyncio.sleep(0.05)
    await other.cancel_session(session_id, reason="shutting down")
    result = await asyncio.wait_for(execution, 5)
    assert result.status is RunStatus.CANCELLED
    assert (await store.get_run(waiting.id)).status is RunStatus.CANCELLED
    assert (await store.get_session(session_id)).status is SessionStatus.CANCELLED
    assert (await store.get_events(session_id))[-1].type == "session_cancelled"


async def test_a_queued_run_whose_session_is_paused_from_outside_awaits_as_failed() -> None:
    store = InMemorySessionStore()
    manager = SessionManager(store, ScriptedAdapter(Scenario().delay(0.2).text("one")))
    outsider = SessionManager(store, ScriptedAdapter(Scenario()))
    session = await manager.start_session("agent")
    await manager.activate_session(session.id)
    async with await SessionServer.open(manager, session.id, max_concurrent_runs=1) as server:
        first = await server.submit_run("one")
        second = await server.submit_run("two")
        await asyncio.sleep(0.05)  # the first executes, the second waits in the queue
        await outsider.pause_session(session.id, reason="from outside")
        done = await server.await_run(first, timeout=5)
        queued = await server.await_run(second, timeout=5)
    assert done.status is RunStatus.COMPLETED
    assert queued.status is RunStatus.FAILED
    assert queued.error is not None
    assert queued.error.code == "invalid_transition"
    assert await _terminal_types(store, session.id, second) == ["run_failed"]


async def test_fail_run_ends_a_pending_run_once() -> None:
    store = InMemorySessionStore()
    manager = SessionManager(store, ScriptedAdapter(Scenario()))
    session_id, run_id = await _pending_run(manager)
    failed = await manager.fail_run(run_id, "could not start")
    assert failed.status is RunStatus.FAILED
    again = await manager.fail_run(run_id, "twice")
    assert again == failed
    assert await _terminal_types(store, session_id, run_id) == ["run_failed"]
