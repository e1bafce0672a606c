"""Control operations: cancel, pause/resume (new runs wait while paused), interrupt only where
the adapter declares and implements it."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Sequence

import pytest

from agent_session_manager import (
    Capability,
    CapabilityType,
    ControlOperations,
    InMemorySessionStore,
    ProviderEvent,
    RunNotFound,
    RunRequest,
    RunStatus,
    Scenario,
    ScriptedAdapter,
    SessionManager,
    SessionServer,
    SessionStatus,
    ValidationError,
)

pytestmark = pytest.mark.timeout(10)


class Interruptible(ScriptedAdapter):
    """Stops the current turn on interrupt; the run then completes as 'interrupted'."""

    def __init__(self) -> None:
        super().__init__(Scenario())
        self._stop: dict[str, asyncio.Event] = {}

    def capabilities(self) -> Sequence[Capability]:
        return (*super().capabilities(), Capability(name="interrupt", type=CapabilityType.CANCEL))

    async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
        stop = self._stop.setdefault(request.run_id, asyncio.Event())
        yield ProviderEvent("message_streamed", {"delta": "working"})
        await stop.wait()
        yield ProviderEvent("run_completed", {"stop_reason": "interrupted"})

    async def interrupt(self, run_id: str) -> None:
        self._stop.setdefault(run_id, asyncio.Event()).set()


async def test_cancel_through_the_server_or_the_manager() -> None:
    manager = SessionManager(InMemorySessionStore(), ScriptedAdapter(Scenario().delay(math.inf)))
    control = ControlOperations(manager)
    async with await SessionServer.open(manager) as server:
        control.register(server)
        run_id = await server.submit_run("long")
        await asyncio.sleep(0.01)
        run = await control.cancel(run_id, reason="stop")
        assert run.status is RunStatus.CANCELLED
        assert (await server.await_run(run_id)).status is RunStatus.CANCELLED
    # No server: a pending run is cancelled by the manager.
    session = await manager.start_session()
    await manager.activate_session(session.id)
    pending = await manager.start_run(session.id, "later")
    assert (await control.cancel(pending.id)).status is RunStatus.CANCELLED
    assert [r.operation for r in control.history(run_id)] == ["cancel"]
    with pytest.raises(RunNotFound):
        await control.cancel("run_missing")
    assert control.history("run_missing")[-1].result == "run_not_found"


async def test_pause_makes_new_runs_wait_until_resume() -> None:
    manager = SessionManager(InMemorySessionStore(), ScriptedAdapter(Scenario().text("ok")))
    control = ControlOperations(manager)
    async with await SessionServer.open(manager) as server:
        control.register(server)
        session = await control.pause(server.session_id, reason="budget")
        assert session.status is SessionStatus.PAUSED
        run_id = await server.submit_run("wait for me")
        await asyncio.sleep(0.01)
        assert server.status().queued_runs == (run_id,)
        assert (await manager.store.get_run(run_id)).status is RunStatus.PENDING
        session = await control.resume(server.session_id)
        assert session.status is SessionStatus.ACTIVE
        assert (await server.await_run(run_id, timeout=5)).ok
    types = [e.type for e in await manager.store.get_events(server.session_id)]
    assert (
        types.index("session_paused") < types.index("session_resumed") < types.index("run_started")
    )


async def test_pause_and_resume_without_a_server() -> None:
    manager = SessionManager(InMemorySessionStore(), ScriptedAdapter(Scenario()))
    control = ControlOperations(manager)
    session = await manager.start_session()
    await manager.activate_session(session.id)
    assert (await control.pause(session.id)).status is SessionStatus.PAUSED
    assert (await control.resume(session.id)).status is SessionStatus.ACTIVE


async def test_interrupt_where_supported() -> None:
    manager = SessionManager(InMemorySessionStore(), Interruptible())
    control = ControlOperations(manager)
    assert control.supports_interrupt()
    async with await SessionServer.open(manager) as server:
        streaming = asyncio.Event()
        run_id = await server.submit_run("go", on_event=lambda e: streaming.set())
        await streaming.wait()
        await control.interrupt(run_id)
        result = await server.await_run(run_id, timeout=5)
    assert result.ok
    assert result.output["stop_reason"] == "interrupted"
    with pytest.raises(RunNotFound):
        await control.interrupt(run_id)  # no longer executing


async def test_interrupt_without_support_is_a_clear_error() -> None:
    manager = SessionManager(InMemorySessionStore(), ScriptedAdapter(Scenario()))
    control = ControlOperations(manager)
    assert not control.supports_interrupt()
    with pytest.raises(ValidationError) as info:
        await control.interrupt("run_x")
    assert info.value.code == "capability_not_supported"
    assert "does not support interrupt" in info.value.message
