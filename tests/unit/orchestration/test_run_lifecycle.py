"""Every run ends with exactly one terminal event and one terminal status, on every path."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
import pytest

from agent_session_manager import (
    Capability,
    Event,
    EventType,
    InMemorySessionStore,
    InvalidTransition,
    ProviderEvent,
    RunRequest,
    RunStatus,
    Scenario,
    ScriptedAdapter,
    SessionManager,
    SessionStatus,
    SessionStore,
)
from agent_session_manager.core.events import TERMINAL_RUN_EVENTS

SECRET = "sk-ant-api03-" + "Z" * 40


async def _events(store: SessionStore, session_id: str) -> list[Event]:
    return await store.get_events(session_id)


def _assert_one_terminal(events: Sequence[Event], run_id: str, expected: EventType) -> None:
    run_events = [e for e in events if e.run_id == run_id]
    terminal = [e for e in run_events if e.type in TERMINAL_RUN_EVENTS]
    assert [e.type for e in terminal] == [expected], [e.type for e in run_events]
    assert run_events[-1].type == expected  # nothing after the terminal event
    assert [e.type for e in run_events].count(EventType.RUN_STARTED) == 1
    sequences = [e.sequence_number for e in events]
    assert sequences == list(range(1, len(events) + 1))


async def _run(
    adapter: Any, *, timeout: float | None = 5.0, on_event: Any = None
) -> tuple[SessionManager, Any]:
    store = InMemorySessionStore()
    manager = SessionManager(store, adapter)
    result = await manager.run_once("do the thing", timeout=timeout, on_event=on_event)
    return manager, result


async def test_success_path() -> None:
    scenario = (
        Scenario()
        .text("Looking.", chunks=2)
        .tool_call("bash", {"command": "ls"}, output="a.txt")
        .usage(100, 20, cache_read_tokens=40)
        .end_turn()
        .text("Done.")
        .usage(50, 10)
    )
    manager, result = await _run(ScriptedAdapter(scenario))
    assert result.ok
    assert result.status is RunStatus.COMPLETED
    assert result.content == "Looking.\n\nDone."
    assert result.token_usage.input_tokens == 150
    assert result.token_usage.total_tokens == 180
    assert result.run.turn_count == 2
    assert result.session.status is SessionStatus.COMPLETED
    events = await _events(manager.store, result.session_id)
    _assert_one_terminal(events, result.run_id, EventType.RUN_COMPLETED)
    types = [e.type for e in events]
    assert types[:4] == ["session_created", "session_started", "message_sent", "run_started"]
    assert types[-1] == "session_completed"
    completed = next(e for e in events if e.type == "run_completed")
    assert completed.data["token_usage"]["total_tokens"] == 180
    stored_run = await manager.store.get_run(result.run_id)
    assert stored_run == result.run
    assert all(e.provider == "scripted" for e in events if e.run_id)


async def test_adapter_raises() -> None:
    class Exploding(ScriptedAdapter):
        async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
            yield ProviderEvent("message_streamed", {"delta": "partial"})
            raise RuntimeError("socket closed")

    manager, result = await _run(Exploding(Scenario()))
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.code == "provider_error"
    assert "socket closed" in result.error.message
    events = await _events(manager.store, result.session_id)
    _assert_one_terminal(events, result.run_id, EventType.RUN_FAILED)
    assert any(e.type == "message_streamed" for e in events)  # earlier events kept
    assert result.session.status is SessionStatus.FAILED


async def test_provider_failure_keeps_code_and_retryable() -> None:
    scenario = Scenario().text("hi").fail("overloaded", code="provider_overloaded")
    manager, result = await _run(ScriptedAdapter(scenario))
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert (result.error.code, result.error.retryable) == ("provider_overloaded", True)
    failed = (await _events(manager.store, result.session_id))[-2]
    assert failed.type == "run_failed"
    assert failed.data["error_code"] == "provider_overloaded"
    assert failed.data["retryable"] is True
    with pytest.raises(Exception, match="overloaded"):
        result.raise_for_status()


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("tool_call_started", {"tool_name": "bash"}),  # missing keys
        ("message_streamed", ["not a dict"]),
        ("not a type!", {}),
        ("session_completed", {}),  # lifecycle is the manager's, not the adapter's
        ("message_streamed", {"delta": {1, 2}}),  # not JSON
    ],
)
async def test_malformed_adapter_event_fails_the_run(event_type: str, data: Any) -> None:
    scenario = Scenario().text("before").event(event_type, data).text("never")
    manager, result = await _run(ScriptedAdapter(scenario))
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.code == "provider_protocol_error"
    events = await _events(manager.store, result.session_id)
    _assert_one_terminal(events, result.run_id, EventType.RUN_FAILED)
    assert "before" in [e.data.get("content") for e in events]
    assert "never" not in [e.data.get("content") for e in events]


async def test_timeout_stops_the_adapter() -> None:
    closed = asyncio.Event()

    class Slow(ScriptedAdapter):
        async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
            try:
                yield ProviderEvent("message_streamed", {"delta": "thinking"})
                await asyncio.sleep(3600)
            finally:
                closed.set()

    manager, result = await _run(Slow(Scenario()), timeout=0.2)
    assert result.status is RunStatus.TIMED_OUT
    assert result.error is not None
    assert result.error.code == "timeout"
    assert closed.is_set()  # the adapter's work was stopped, not left running
    events = await _events(manager.store, result.session_id)
    _assert_one_terminal(events, result.run_id, EventType.RUN_TIMED_OUT)
    timed_out = next(e for e in events if e.type == "run_timed_out")
    assert timed_out.data["timeout_s"] == 0.2


async def test_default_timeout_is_documented_and_applied() -> None:
    from agent_session_manager import DEFAULT_RUN_TIMEOUT

    store = InMemorySessionStore()
    manager = SessionManager(store, ScriptedAdapter(Scenario().delay(math.inf)))
    assert manager.default_timeout == DEFAULT_RUN_TIMEOUT
    manager.default_timeout = 0.1
    result = await manager.run_once("x")
    assert result.status is RunStatus.TIMED_OUT


class _Stubborn(ScriptedAdapter):
    """Ignores cancel and still reports success afterwards."""

    def __init__(self) -> None:
        super().__init__(Scenario())
        self.started = asyncio.Event()

    async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
        yield ProviderEvent("message_streamed", {"delta": "working"})
        self.started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        yield ProviderEvent("message_received", {"role": "assistant", "content": "late"})
        yield ProviderEvent("run_completed", {"stop_reason": "end_turn"})

    async def cancel(self, run_id: str) -> None:
        return None


async def test_cancel_mid_stream_stays_cancelled() -> None:
    adapter = _Stubborn()
    store = InMemorySessionStore()
    manager = SessionManager(store, adapter)
    session = await manager.start_session("agent")
    await manager.activate_session(session.id)
    run = await manager.start_run(session.id, "go")
    task = asyncio.create_task(manager.execute_run(run.id))
    await adapter.started.wait()
    cancelled = await manager.cancel_run(run.id, reason="user asked")
    result = await task
    assert cancelled.status is RunStatus.CANCELLED
    assert result.status is RunStatus.CANCELLED
    assert (await store.get_run(run.id)).status is RunStatus.CANCELLED
    events = await store.get_events(session.id)
    _assert_one_terminal(events, run.id, EventType.RUN_CANCELLED)
    assert events[-1].data["reason"] == "user asked"
    assert "late" not in [e.data.get("content") for e in events]
    # The session stays usable.
    again = await manager.start_run(session.id, "again")
    manager.adapter = ScriptedAdapter(Scenario().text("ok"))
    assert (await manager.execute_run(again.id)).ok


async def test_cancel_pending_run_and_cancel_is_idempotent() -> None:
    store = InMemorySessionStore()
    manager = SessionManager(store, ScriptedAdapter(Scenario().text("x")))
    session = await manager.start_session("agent")
    await manager.activate_session(session.id)
    run = await manager.start_run(session.id, "go")
    first = await manager.cancel_run(run.id)
    second = await manager.cancel_run(run.id)
    assert first.status is second.status is RunStatus.CANCELLED
    events = await store.get_events(session.id, run_id=run.id)
    assert [e.type for e in events] == ["run_cancelled"]
    with pytest.raises(InvalidTransition):
        await manager.execute_run(run.id)


async def test_calling_task_cancelled_records_cancelled_and_propagates() -> None:
    store = InMemorySessionStore()
    adapter = ScriptedAdapter(Scenario().text("a").delay(math.inf))
    manager = SessionManager(store, adapter)
    seen = asyncio.Event()

    def on_event(event: Event) -> None:
        if event.type == "message_received":
            seen.set()

    task = asyncio.create_task(manager.run_once("go", on_event=on_event))
    await seen.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    sessions = await store.list_sessions()
    assert sessions[0].status is SessionStatus.CANCELLED
    runs = await store.list_runs(sessions[0].id)
    assert runs[0].status is RunStatus.CANCELLED
    events = await store.get_events(sessions[0].id)
    _assert_one_terminal(events, runs[0].id, EventType.RUN_CANCELLED)


async def test_callback_raising_fails_the_run_cleanly() -> None:
    calls: list[str] = []

    def on_event(event: Event) -> None:
        calls.append(event.type)
        if event.type == "tool_call_started":
            raise KeyError("renderer bug")

    scenario = Scenario().text("a").tool_call("bash", {"command": "ls"}, output="x").text("b")
    manager, result = await _run(ScriptedAdapter(scenario), on_event=on_event)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.code == "callback_failed"
    assert "renderer bug" in result.error.message
    events = await _events(manager.store, result.session_id)
    _assert_one_terminal(events, result.run_id, EventType.RUN_FAILED)
    # The event being delivered was persisted before the callback saw it; nothing after it.
    run_types = [e.type for e in events if e.run_id == result.run_id]
    assert run_types[-2:] == ["tool_call_started", "run_failed"]
    assert calls[-1] == "run_failed"  # the callback still sees the terminal event


async def test_callback_sees_stored_events_in_order_and_may_be_async() -> None:
    seen: list[int] = []

    async def on_event(event: Event) -> None:
        await asyncio.sleep(0)
        assert event.sequence_number is not None
        seen.append(event.sequence_number)

    _manager, result = await _run(
        ScriptedAdapter(Scenario().text("hi", chunks=3)), on_event=on_event
    )
    assert result.ok
    assert seen == sorted(seen)
    assert len(seen) == len(result.events)


async def test_secrets_never_reach_the_store() -> None:
    scenario = (
        Scenario()
        .tool_call("bash", {"command": "env"}, output=f"ANTHROPIC_API_KEY={SECRET}\nHOME=/root")
        .text(f"Your key is {SECRET}")
    )
    manager, result = await _run(ScriptedAdapter(scenario))
    store = manager.store
    assert isinstance(store, InMemorySessionStore)
    dumped = orjson.dumps(
        [e.to_dict() for e in await store.get_events(result.session_id)]
        + [(await store.get_run(result.run_id)).to_dict()]
    ).decode()
    assert SECRET not in dumped
    assert "[REDACTED]" in dumped
    assert "HOME=/root" in dumped  # the rest of the output is kept
    tool_done = next(
        e for e in await store.get_events(result.session_id) if e.type == "tool_call_completed"
    )
    assert tool_done.metadata["redactions"] == 1


async def test_redaction_can_be_turned_off() -> None:
    store = InMemorySessionStore()
    manager = SessionManager(store, ScriptedAdapter(Scenario().text(SECRET)), redaction=False)
    result = await manager.run_once("x")
    assert result.content == SECRET


async def test_native_resume_handle_is_recorded_and_reused() -> None:
    store = InMemorySessionStore()
    adapter = ScriptedAdapter(Scenario().text("ok"))
    manager = SessionManager(store, adapter)
    session = await manager.start_session("agent", system_prompt="be brief")
    await manager.activate_session(session.id)
    first = await manager.execute_run((await manager.start_run(session.id, "one")).id)
    second = await manager.execute_run((await manager.start_run(session.id, "two")).id)
    assert adapter.requests[0].provider_session_id is None
    assert adapter.requests[1].provider_session_id == first.provider_session_id
    assert second.provider_session_id == first.provider_session_id
    assert adapter.requests[0].options.system_prompt == "be brief"
    stored = await store.get_session(session.id)
    assert stored.provider_handles["scripted"].provider_session_id == first.provider_session_id


async def test_start_run_validates_input_and_session_state() -> None:
    from agent_session_manager import ValidationError

    store = InMemorySessionStore()
    manager = SessionManager(store, ScriptedAdapter(Scenario()))
    session = await manager.start_session("agent")
    with pytest.raises(InvalidTransition, match="active"):
        await manager.start_run(session.id, "x")
    await manager.activate_session(session.id)
    bad_inputs: list[Any] = ["", {"messages": []}, {"foo": 1}, {"messages": [{"role": "user"}]}]
    for bad in bad_inputs:
        with pytest.raises(ValidationError):
            await manager.start_run(session.id, bad)
    assert await store.list_runs(session.id) == []
    with pytest.raises(ValidationError) as info:
        await manager.start_run(session.id, "x", required_capabilities=["network_access"])
    assert info.value.code == "missing_required_capability"
    run = await manager.start_run(
        session.id,
        {"messages": [{"role": "user", "content": "hi"}]},
        optional_capabilities=["resume"],
    )
    assert run.input == {"messages": [{"role": "user", "content": "hi"}]}


async def test_session_lifecycle_events() -> None:
    store = InMemorySessionStore()
    manager = SessionManager(store, ScriptedAdapter(Scenario()))
    session = await manager.start_session("agent", tags=["ci"], metadata={"pr": 7})
    await manager.activate_session(session.id)
    await manager.pause_session(session.id, reason="budget")
    with pytest.raises(InvalidTransition):
        await manager.start_run(session.id, "x")
    await manager.resume_session(session.id)
    with pytest.raises(InvalidTransition):
        await manager.resume_session(session.id)
    done = await manager.complete_session(session.id)
    assert done.status is SessionStatus.COMPLETED
    with pytest.raises(InvalidTransition):
        await manager.activate_session(session.id)
    types = [e.type for e in await store.get_events(session.id)]
    assert types == [
        "session_created",
        "session_started",
        "session_paused",
        "session_resumed",
        "session_completed",
    ]


async def test_capabilities_are_declared() -> None:
    caps = ScriptedAdapter(Scenario()).capabilities()
    assert all(isinstance(c, Capability) for c in caps)


async def test_stream_session_events_follows_new_events() -> None:
    store = InMemorySessionStore()
    gate = asyncio.Event()

    class Gated(ScriptedAdapter):
        async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
            yield ProviderEvent("message_streamed", {"delta": "one"})
            await gate.wait()
            yield ProviderEvent("message_streamed", {"delta": "two"})

    manager = SessionManager(store, Gated(Scenario()))
    session = await manager.start_session("agent")
    await manager.activate_session(session.id)
    run = await manager.start_run(session.id, "go")
    execution = asyncio.create_task(manager.execute_run(run.id))
    received: list[Event] = []

    async def follow() -> None:
        async for event in manager.stream_session_events(session.id):
            received.append(event)
            if event.data.get("delta") == "one":
                gate.set()
            if event.type == "run_completed":
                return

    await asyncio.wait_for(follow(), 10)
    await execution
    assert [e.sequence_number for e in received] == list(range(1, len(received) + 1))
    assert [e.data.get("delta") for e in received if e.type == "message_streamed"] == [
        "one",
        "two",
    ]


async def test_stream_without_follow_ends_and_honours_cursor_and_filters() -> None:
    manager, result = await _run(ScriptedAdapter(Scenario().text("a", chunks=1)))
    all_events = [e async for e in manager.stream_session_events(result.session_id, follow=False)]
    later = [
        e async for e in manager.stream_session_events(result.session_id, after=3, follow=False)
    ]
    assert later == all_events[3:]
    only = [
        e
        async for e in manager.stream_session_events(
            result.session_id, follow=False, types=["message_received"]
        )
    ]
    assert [e.type for e in only] == ["message_received"]


async def test_execute_run_twice_is_refused() -> None:
    store = InMemorySessionStore()
    manager = SessionManager(store, ScriptedAdapter(Scenario().text("x")))
    result = await manager.run_once("x")
    with pytest.raises(InvalidTransition):
        await manager.execute_run(result.run_id)


class _GatedStore(InMemorySessionStore):
    """Holds ``get_run`` or the write that marks a run running until ``gate`` opens."""

    def __init__(self, hold: str) -> None:
        super().__init__()
        self.hold = hold
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def get_run(self, run_id: str) -> Any:
        if self.hold == "load" and not self.gate.is_set():
            self.waiting.set()
            await self.gate.wait()
        return await super().get_run(run_id)

    async def flush(self, *, run: Any = None, **parts: Any) -> Any:
        if self.hold == "mark_running" and run is not None and run.status is RunStatus.RUNNING:
            self.waiting.set()
            await self.gate.wait()
        return await super().flush(run=run, **parts)


@pytest.mark.parametrize("hold", ["load", "mark_running"])
async def test_cancel_while_execute_run_is_starting_wins(hold: str) -> None:
    store = _GatedStore(hold="none")
    adapter = ScriptedAdapter(Scenario().text("should not run"))
    manager = SessionManager(store, adapter)
    session = await manager.start_session("agent")
    await manager.activate_session(session.id)
    run = await manager.start_run(session.id, "go")
    store.hold = hold
    execution = asyncio.create_task(manager.execute_run(run.id))
    await store.waiting.wait()
    assert manager.is_executing(run.id)
    cancelling = asyncio.create_task(manager.cancel_run(run.id, reason="changed my mind"))
    await asyncio.sleep(0)
    store.gate.set()
    result, cancelled = await asyncio.gather(execution, cancelling)
    assert result.status is RunStatus.CANCELLED
    assert cancelled.status is RunStatus.CANCELLED
    assert (await store.get_run(run.id)).status is RunStatus.CANCELLED
    assert adapter.requests == []  # the provider was never called
    events = await store.get_events(session.id, run_id=run.id)
    assert [e.type for e in events if e.type in TERMINAL_RUN_EVENTS] == ["run_cancelled"]
    assert events[-1].data["reason"] == "changed my mind"
    assert not manager.is_executing(run.id)
