"""SessionServer on a real SQLite file: subscribers joining before and during concurrent runs get
every event once, in order, also the events close() itself writes; a limiter's slots come back
after crashes and cancels."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from agent_session_manager import (
    ConcurrencyLimiter,
    Event,
    ProviderEvent,
    RunRequest,
    RunStatus,
    Scenario,
    ScriptedAdapter,
    SessionManager,
    SessionServer,
    SQLiteSessionStore,
)

pytestmark = pytest.mark.timeout(30)


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait (at most 10 s) until ``condition`` holds: for state other tasks reach."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


async def _collect(subscription: AsyncIterator[Event], into: list[Event]) -> None:
    async for event in subscription:
        into.append(event)


async def test_subscribers_on_sqlite_see_every_event_once(tmp_path: Path) -> None:
    scenario = Scenario().stream(30).delay(0.01).tool_call("bash", output="x").stream(30)
    store = await SQLiteSessionStore.open(tmp_path / "s.db")
    try:
        manager = SessionManager(store, ScriptedAdapter(scenario))
        server = await SessionServer.open(manager, max_concurrent_runs=2)
        early: list[Event] = []
        tasks = [asyncio.create_task(_collect(server.subscribe(), early))]
        first_tool = asyncio.Event()

        def on_event(event: Event) -> None:
            if event.type == "tool_call_started":
                first_tool.set()

        ids = [await server.submit_run(f"r{i}", on_event=on_event) for i in range(3)]
        await first_tool.wait()
        late: list[Event] = []
        cursor = 5
        tasks.append(asyncio.create_task(_collect(server.subscribe(after=cursor), late)))
        results = [await server.await_run(run_id) for run_id in ids]
        assert [r.status for r in results] == [RunStatus.COMPLETED] * 3
        await server.close()
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
        stored = await store.get_events(server.session_id)
    finally:
        await store.close()
    assert [e.sequence_number for e in early] == list(range(1, len(stored) + 1))
    assert early == stored
    assert late == stored[cursor:]


async def test_closing_the_server_delivers_the_cancels_it_writes(tmp_path: Path) -> None:
    store = await SQLiteSessionStore.open(tmp_path / "s.db")
    try:
        manager = SessionManager(store, ScriptedAdapter(Scenario().delay(math.inf)))
        server = await SessionServer.open(manager)
        got: list[Event] = []
        task = asyncio.create_task(_collect(server.subscribe(), got))
        sent = asyncio.Event()

        def on_event(event: Event) -> None:
            if event.type == "message_sent":
                sent.set()

        run_id = await server.submit_run("wait", on_event=on_event)
        await sent.wait()  # the run is executing: close() has to cancel it
        await server.close()
        await asyncio.wait_for(task, 10)
        stored = await store.get_events(server.session_id)
    finally:
        await store.close()
    assert got == stored
    assert (got[-1].type, got[-1].run_id) == ("run_cancelled", run_id)


async def test_limiter_slots_return_after_crash_and_cancel(tmp_path: Path) -> None:
    class Flaky(ScriptedAdapter):
        async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
            if request.prompt == "crash":
                raise RuntimeError("provider died")
            async for item in super().stream(request):
                yield item

    store = await SQLiteSessionStore.open(tmp_path / "l.db")
    limiter = ConcurrencyLimiter(max_parallel_sessions=1, max_parallel_runs=1)
    try:
        manager = SessionManager(store, Flaky(Scenario().delay(math.inf)))
        async with await SessionServer.open(manager, limiter=limiter, max_concurrent_runs=3) as srv:
            crashed = await srv.submit_run("crash")
            hanging = await srv.submit_run("hang")
            waiting = await srv.submit_run("wait for a slot")
            assert (await srv.await_run(crashed)).status is RunStatus.FAILED
            # The crash can end before the third run's task reaches the limiter: wait for it.
            await _until(lambda: limiter.status().waiting_runs == 1, "the third run to wait")
            assert limiter.status().active_runs == 1
            await srv.cancel_run(waiting)  # cancelled while waiting for the limiter
            await srv.cancel_run(hanging)  # cancelled while running
            assert limiter.status().active_runs == 0
            assert limiter.status().waiting_runs == 0
            for run_id in (hanging, waiting):
                assert (await store.get_run(run_id)).status is RunStatus.CANCELLED
        assert limiter.status().active_sessions == 0
    finally:
        await store.close()
