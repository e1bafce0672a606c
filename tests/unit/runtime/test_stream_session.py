"""StreamSession: one call streams a run's events and owns its cleanup; nothing leaks when the
consumer finishes, stops early, raises or is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator

import pytest

from agent_session_manager import (
    InMemorySessionStore,
    ProviderEvent,
    RunRequest,
    RunStatus,
    Scenario,
    ScriptedAdapter,
    ValidationError,
    open_stream,
    stream_session,
)

pytestmark = pytest.mark.timeout(10)


class Tracking(ScriptedAdapter):
    """Records when its stream's ``finally`` ran (the provider's process would stop there)."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        self.closed_streams = 0

    async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
        try:
            async for item in super().stream(request):
                yield item
        finally:
            self.closed_streams += 1


_LONG = Scenario().text("step one").delay(math.inf)


async def test_streams_every_event_of_the_run_then_ends() -> None:
    store = InMemorySessionStore()
    adapter = Tracking(Scenario().text("hello").tool_call("bash", output="ok"))
    before = asyncio.all_tasks()
    async with stream_session(adapter, "hi", store=store) as events:
        got = [event async for event in events]
        assert events.result is not None
        assert events.result.ok
        assert events.result.content == "hello"
    stored = await store.get_events(got[0].session_id, run_id=got[0].run_id)
    assert got == stored
    assert got[-1].type == "run_completed"
    assert adapter.closed_streams == 1
    assert asyncio.all_tasks() == before


@pytest.mark.parametrize("how", ["break", "raise", "close_first"])
async def test_consumer_stopping_early_cancels_the_run_and_leaks_nothing(how: str) -> None:
    store = InMemorySessionStore()
    adapter = Tracking(_LONG)
    before = asyncio.all_tasks()
    session_id = None
    with pytest.raises(RuntimeError) if how == "raise" else contextlib.nullcontext():
        async with stream_session(adapter, "hi", store=store) as events:
            if how == "close_first":
                await events.aclose()
            async for event in events:
                session_id = event.session_id
                if event.type == "message_received":
                    if how == "raise":
                        raise RuntimeError("consumer failed")
                    break
    assert asyncio.all_tasks() == before
    if how != "close_first":
        assert adapter.closed_streams == 1
        assert session_id is not None
        runs = await store.list_runs(session_id)
        assert [r.status for r in runs] == [RunStatus.CANCELLED]


async def test_consumer_cancelled_leaks_nothing() -> None:
    adapter = Tracking(_LONG)
    before = asyncio.all_tasks()
    seen = asyncio.Event()

    async def consume() -> None:
        async with stream_session(adapter, "hi") as events:
            async for _ in events:
                seen.set()

    task = asyncio.create_task(consume())
    await seen.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert adapter.closed_streams == 1
    assert asyncio.all_tasks() == before


async def test_an_owned_store_is_closed_and_a_borrowed_one_is_not() -> None:
    async with stream_session(ScriptedAdapter(Scenario().text("x")), "hi") as owned:
        [e async for e in owned]
    assert owned.store._closed  # type: ignore[attr-defined]
    borrowed = InMemorySessionStore()
    async with stream_session(ScriptedAdapter(Scenario().text("x")), "hi", store=borrowed) as s:
        [e async for e in s]
    assert not borrowed._closed
    assert await borrowed.list_sessions()


async def test_open_stream_returns_iterator_and_idempotent_close() -> None:
    adapter = Tracking(_LONG)
    before = asyncio.all_tasks()
    events, close = await open_stream(adapter, "hi")
    try:
        first = await anext(events)
        assert first.type == "message_sent"
    finally:
        await close()
        await close()
    assert [e async for e in events] == []
    assert adapter.closed_streams == 1
    assert asyncio.all_tasks() == before


async def test_an_error_before_the_run_is_raised_by_the_iterator() -> None:
    before = asyncio.all_tasks()
    async with stream_session(ScriptedAdapter(Scenario()), "   ") as events:
        with pytest.raises(ValidationError):
            async for _ in events:
                pass
    assert asyncio.all_tasks() == before


async def test_a_failed_run_ends_with_its_run_failed_event() -> None:
    async with stream_session(ScriptedAdapter(Scenario().fail("boom")), "hi") as events:
        types = [e.type async for e in events]
    assert types[-1] == "run_failed"
    assert events.result is not None
    assert events.result.status is RunStatus.FAILED
