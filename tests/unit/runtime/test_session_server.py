"""SessionServer: FIFO queue, concurrency cap, await/cancel/drain/status, crash isolation,
bounded memory and clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent_session_manager import (
    ASMError,
    ConcurrencyError,
    ConcurrencyLimiter,
    EventType,
    InMemorySessionStore,
    InvalidTransition,
    ProviderError,
    ProviderEvent,
    RunNotFound,
    RunRequest,
    RunStatus,
    RunTimeout,
    Scenario,
    ScriptedAdapter,
    SessionManager,
    SessionServer,
    SessionStatus,
    ValidationError,
)
from agent_session_manager.core.events import TERMINAL_RUN_EVENTS
from agent_session_manager.core.run_tally import error_from_event as _error_from_event

pytestmark = pytest.mark.timeout(20)

#: ``SessionServer.open``'s own keyword arguments: they describe the session it creates.
_NEW_SESSION = ("agent_id", "system_prompt", "metadata", "tags")


def test_open_takes_the_constructors_keyword_arguments() -> None:
    """``open`` repeats the constructor's keyword-only parameters (typed, no ``**kwargs``), so
    a parameter added to, renamed in or changed in one and not the other fails here."""

    def keyword_only(function: Any) -> list[inspect.Parameter]:
        parameters = inspect.signature(function).parameters.values()
        return [p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]

    opened = [p for p in keyword_only(SessionServer.open) if p.name not in _NEW_SESSION]
    assert opened == keyword_only(SessionServer.__init__)
    assert not any(
        p.kind is inspect.Parameter.VAR_KEYWORD
        for p in inspect.signature(SessionServer.open).parameters.values()
    )


def _manager(scenarios: Any = None) -> SessionManager:
    adapter = ScriptedAdapter(scenarios or Scenario().text("done"))
    return SessionManager(InMemorySessionStore(), adapter)


def _gated(gates: dict[str, asyncio.Event]) -> Any:
    """A scenario per request: a prompt naming a gate blocks until that gate opens."""

    class Gated(ScriptedAdapter):
        async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
            gate = gates.get(request.prompt)
            if gate is not None:
                await gate.wait()
            async for item in super().stream(request):
                yield item

    return Gated(Scenario().text("ok"))


async def test_submit_await_runs_in_fifo_order_one_at_a_time() -> None:
    manager = _manager()
    order: list[str] = []

    async def on_event(event: Any) -> None:
        if event.type == "run_started":
            order.append(event.run_id)

    async with await SessionServer.open(manager, on_event=on_event) as server:
        ids = [await server.submit_run(f"task {i}") for i in range(5)]
        status = server.status()
        assert status.in_flight_count == 1
        assert status.queued_runs == tuple(ids[1:])
        results = [await server.await_run(run_id) for run_id in ids]
    assert [r.status for r in results] == [RunStatus.COMPLETED] * 5
    assert order == ids
    assert [r.content for r in results] == ["done"] * 5


async def test_max_concurrent_runs_caps_in_flight() -> None:
    gates = {f"p{i}": asyncio.Event() for i in range(4)}
    manager = SessionManager(InMemorySessionStore(), _gated(gates))
    async with await SessionServer.open(manager, max_concurrent_runs=2) as server:
        ids = [await server.submit_run(f"p{i}") for i in range(4)]
        await asyncio.sleep(0)
        assert server.status().in_flight_runs == tuple(ids[:2])
        assert server.status().queued_runs == tuple(ids[2:])
        gates["p1"].set()
        await server.await_run(ids[1])
        assert server.status().in_flight_runs == (ids[0], ids[2])
        for gate in gates.values():
            gate.set()
        await server.drain(timeout=10)
        assert server.status().idle


async def test_await_unknown_run_raises_at_once() -> None:
    manager = _manager()
    async with await SessionServer.open(manager) as server:
        with pytest.raises(RunNotFound):
            await server.await_run("run_does_not_exist")
        with pytest.raises(RunNotFound):
            await server.cancel_run("run_does_not_exist")


async def test_await_run_of_another_session_is_not_found() -> None:
    manager = _manager()
    other = await manager.run_once("elsewhere")
    async with await SessionServer.open(manager) as server:
        with pytest.raises(RunNotFound):
            await server.await_run(other.run_id)


async def test_await_timeout_leaves_the_run_going() -> None:
    manager = _manager(Scenario().delay(math.inf))
    async with await SessionServer.open(manager) as server:
        run_id = await server.submit_run("forever")
        with pytest.raises(RunTimeout) as info:
            await server.await_run(run_id, timeout=0.01)
        assert info.value.code == "wait_timeout"  # the wait timed out, not the run
        assert server.status().in_flight_runs == (run_id,)
        await server.cancel_run(run_id, reason="enough")
        result = await server.await_run(run_id)
    assert result.status is RunStatus.CANCELLED
    assert result.events[-1].data == {"reason": "enough"}


async def test_cancel_queued_and_running() -> None:
    manager = _manager(Scenario().text("working").delay(math.inf))
    async with await SessionServer.open(manager) as server:
        started = asyncio.Event()

        def on_event(event: Any) -> None:
            if event.type == "message_received":
                started.set()

        running = await server.submit_run("a", on_event=on_event)
        queued = await server.submit_run("b")
        await started.wait()  # the adapter is streaming run "a"
        cancelled_queued = await server.cancel_run(queued, reason="not needed")
        assert server.status().queued_runs == ()
        cancelled_running = await server.cancel_run(running)
        first, second = await server.await_run(running), await server.await_run(queued)
        assert first.status is RunStatus.CANCELLED
        assert second.status is RunStatus.CANCELLED
        # Like SessionManager.cancel_run: the run in its final state, also when already final.
        assert (cancelled_running, cancelled_queued) == (first.run, second.run)
        assert await server.cancel_run(running) == first.run  # finished: a no-op
        events = await manager.store.get_events(server.session_id)
    for run_id in (running, queued):
        terminal = [e.type for e in events if e.run_id == run_id and e.type in TERMINAL_RUN_EVENTS]
        assert terminal == ["run_cancelled"]
    assert manager.adapter.requests[0].run_id == running  # type: ignore[attr-defined]
    assert len(manager.adapter.requests) == 1  # type: ignore[attr-defined]


async def test_crashing_adapter_and_callback_do_not_take_the_server_down() -> None:
    class Crashing(ScriptedAdapter):
        async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
            if request.prompt == "crash":
                raise RuntimeError("adapter bug")
            async for item in super().stream(request):
                yield item

    def bad_callback(event: Any) -> None:
        if event.type == "message_received":
            raise KeyError("callback bug")

    manager = SessionManager(InMemorySessionStore(), Crashing(Scenario().text("fine")))
    async with await SessionServer.open(manager) as server:
        crash = await server.submit_run("crash")
        callback = await server.submit_run("cb", on_event=bad_callback)
        fine = await server.submit_run("ok")
        crashed = await server.await_run(crash)
        failed_cb = await server.await_run(callback)
        ok = await server.await_run(fine)
    assert crashed.status is RunStatus.FAILED
    assert crashed.error is not None
    assert "adapter bug" in crashed.error.message
    assert failed_cb.status is RunStatus.FAILED
    assert failed_cb.error is not None
    assert failed_cb.error.code == "callback_failed"
    assert ok.ok


async def test_execute_error_is_raised_by_await_and_the_run_still_ends_failed() -> None:
    manager = _manager()
    async with await SessionServer.open(manager) as server:
        run_id = await server.submit_run("x", options="not options")  # type: ignore[arg-type]
        with pytest.raises(ASMError) as info:
            await server.await_run(run_id)
        assert info.value.code == "internal_error"
        assert "Run task crashed" in info.value.message
        assert (await server.run("fine")).ok
        run = await manager.store.get_run(run_id)
        events = await manager.store.get_events(server.session_id, run_id=run_id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error["code"] == "internal_error"
    assert [e.type for e in events if e.type in TERMINAL_RUN_EVENTS] == ["run_failed"]


async def test_a_stranded_run_fails_with_the_same_data_as_a_run_the_manager_fails() -> None:
    # The server records a run whose execution crashed itself: its run_failed event and its
    # stored error carry what the manager would write for the same error, details and
    # provider_error included (they used to be dropped).
    error = ProviderError(
        "upstream gone",
        code="provider_unavailable",
        details={"http_status": 503},
        provider_error={"type": "api_error", "message": "upstream gone"},
    )

    class Raising(ScriptedAdapter):
        async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
            raise error
            yield  # pragma: no cover

    class Stranding(SessionManager):
        async def execute_run(self, run_id: str, **kwargs: Any) -> Any:
            raise error

    async def failed_run(manager: SessionManager) -> tuple[dict[str, Any], dict[str, Any]]:
        async with await SessionServer.open(manager) as server:
            run_id = await server.submit_run("x")
            with contextlib.suppress(ProviderError):
                await server.await_run(run_id)
            run = await manager.store.get_run(run_id)
            events = await manager.store.get_events(server.session_id, run_id=run_id)
        assert run.status is RunStatus.FAILED
        assert run.error is not None
        (terminal,) = [e for e in events if e.type in TERMINAL_RUN_EVENTS]
        assert terminal.type == EventType.RUN_FAILED
        return terminal.data, run.error

    by_manager = await failed_run(SessionManager(InMemorySessionStore(), Raising(Scenario())))
    stranded = await failed_run(Stranding(InMemorySessionStore(), ScriptedAdapter(Scenario())))
    assert stranded[0] == {
        "error_code": "provider_unavailable",
        "error_message": "upstream gone",
        "category": "provider",
        "retryable": True,
        "details": {"http_status": 503},
        "provider_error": {"type": "api_error", "message": "upstream gone"},
    }
    assert stranded == by_manager
    rebuilt = _error_from_event(stranded[0])
    assert (type(rebuilt), rebuilt.code, rebuilt.details, rebuilt.provider_error) == (
        ProviderError,
        "provider_unavailable",
        {"http_status": 503},
        {"type": "api_error", "message": "upstream gone"},
    )


async def test_queue_bound() -> None:
    manager = _manager(Scenario().delay(math.inf))
    async with await SessionServer.open(manager, max_queued_runs=1) as server:
        await server.submit_run("running")
        await server.submit_run("queued")
        with pytest.raises(ConcurrencyError) as info:
            await server.submit_run("one too many")
        assert info.value.code == "max_runs_exceeded"
        assert "Maximum queued runs exceeded (1)" in info.value.message


async def test_queue_bound_holds_for_concurrent_submissions() -> None:
    class YieldingStore(InMemorySessionStore):
        async def save_run(self, run: Any) -> None:
            await asyncio.sleep(0)  # like a real database: other submissions interleave
            await super().save_run(run)

    manager = SessionManager(YieldingStore(), ScriptedAdapter(Scenario().delay(math.inf)))
    async with await SessionServer.open(manager, max_queued_runs=2) as server:
        outcomes = await asyncio.gather(
            *(server.submit_run(f"r{i}") for i in range(6)), return_exceptions=True
        )
        accepted = [o for o in outcomes if isinstance(o, str)]
        refused = [o for o in outcomes if isinstance(o, ConcurrencyError)]
        assert (len(accepted), len(refused)) == (3, 3)  # one running + two queued
        assert server.status().queued_count == 2


async def test_drain_times_out_while_paused_then_finishes() -> None:
    manager = _manager()
    async with await SessionServer.open(manager) as server:
        await server.pause(reason="maintenance")
        assert (await manager.get_session(server.session_id)).status is SessionStatus.PAUSED
        run_id = await server.submit_run("waits")
        with pytest.raises(RunTimeout):
            await server.drain(timeout=0.01)
        assert server.status().queued_runs == (run_id,)
        await server.resume()
        await server.drain(timeout=10)
        assert (await server.await_run(run_id)).ok


async def test_results_are_bounded_and_rebuilt_from_the_store() -> None:
    manager = _manager()
    async with await SessionServer.open(manager, retained_results=2) as server:
        ids = [await server.submit_run(f"r{i}") for i in range(5)]
        await server.drain(timeout=10)
        assert server.status().retained_results == 2
        assert len(server._entries) == 0
        old = await server.await_run(ids[0])  # evicted: rebuilt from the store
    assert old.ok
    assert old.events[-1].type == "run_completed"


async def test_closed_server_refuses_and_close_cancels_everything() -> None:
    manager = _manager(Scenario().delay(math.inf))
    before = asyncio.all_tasks()
    server = await SessionServer.open(manager, max_concurrent_runs=2)
    ids = [await server.submit_run(f"r{i}") for i in range(3)]
    await asyncio.sleep(0.01)
    await server.close()
    await server.close()  # idempotent
    with pytest.raises(InvalidTransition) as info:
        await server.submit_run("late")
    assert info.value.code == "server_closed"
    for run_id in ids:
        assert (await manager.store.get_run(run_id)).status is RunStatus.CANCELLED
    assert asyncio.all_tasks() == before


async def test_limiter_slots_are_used_and_released() -> None:
    limiter = ConcurrencyLimiter(max_parallel_sessions=2, max_parallel_runs=1)
    manager = _manager()
    async with (
        await SessionServer.open(manager, limiter=limiter, max_concurrent_runs=3) as one,
        await SessionServer.open(manager, limiter=limiter, max_concurrent_runs=3) as two,
    ):
        assert limiter.status().active_sessions == 2
        ids = [await one.submit_run("a"), await two.submit_run("b"), await one.submit_run("c")]
        await one.drain(timeout=10)
        await two.drain(timeout=10)
        runs = [await manager.store.get_run(r) for r in ids]
        assert [r.status for r in runs] == [RunStatus.COMPLETED] * 3
        assert limiter.status().active_runs == 0
    assert limiter.status().active_sessions == 0


async def test_invalid_options() -> None:
    manager = _manager()
    with pytest.raises(ValidationError):
        SessionServer(manager, "ses_x", max_concurrent_runs=0)
    with pytest.raises(InvalidTransition):
        await SessionServer(manager, "ses_x").submit_run("not started")


async def test_run_bounds_the_wait_with_wait_timeout_and_the_run_with_run_timeout() -> None:
    manager = _manager(Scenario().delay(math.inf))
    async with await SessionServer.open(manager, max_concurrent_runs=2) as server:
        with pytest.raises(RunTimeout) as info:
            await server.run("forever", wait_timeout=0.01)
        assert info.value.code == "wait_timeout"
        assert len(server.status().in_flight_runs) == 1  # the run keeps going
        bounded = await server.run("forever", run_timeout=0.01)
    assert bounded.status is RunStatus.TIMED_OUT
