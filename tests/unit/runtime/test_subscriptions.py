"""SessionServer subscriptions: backfill from a cursor, then live; every event exactly once, in
order, whenever the subscriber joins (property test over random interleavings)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_session_manager import (
    Event,
    InMemorySessionStore,
    Scenario,
    ScriptedAdapter,
    SessionManager,
    SessionServer,
    ValidationError,
)
from agent_session_manager.pipeline import EmitContext

pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class _Join:
    cursor_fraction: float
    run_id: str | None
    types: tuple[str, ...] | None


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 6)),
        st.tuples(st.just("yield"), st.integers(0, 3)),
        st.tuples(
            st.just("join"),
            st.builds(
                _Join,
                st.floats(0, 1),
                st.sampled_from([None, "run_a", "run_b"]),
                st.sampled_from([None, ("custom.one",), ("custom.two", "custom.one")]),
            ),
        ),
    ),
    min_size=1,
    max_size=25,
)


async def _consume(subscription: object, into: list[Event]) -> None:
    async for event in subscription:  # type: ignore[attr-defined]
        into.append(event)


async def _scenario(ops: list[tuple[str, object]]) -> None:
    manager = SessionManager(InMemorySessionStore(), ScriptedAdapter(Scenario()))
    server = await SessionServer.open(manager)
    store, sid = manager.store, server.session_id
    joined: list[tuple[_Join, int, list[Event], asyncio.Task[None]]] = []
    counter = 0
    for kind, arg in ops:
        if kind == "append":
            assert isinstance(arg, int)
            for _ in range(arg):
                counter += 1
                run_id = "run_a" if counter % 2 else "run_b"
                kind_name = "custom.one" if counter % 3 else "custom.two"
                event = manager.pipeline.build(EmitContext(sid, run_id), kind_name, {"n": counter})
                await store.append_event(event)
        elif kind == "yield":
            assert isinstance(arg, int)
            for _ in range(arg):
                await asyncio.sleep(0)
        else:
            assert isinstance(arg, _Join)
            latest = await store.latest_sequence(sid)
            after = int(latest * arg.cursor_fraction)
            sub = server.subscribe(after=after, run_id=arg.run_id, types=arg.types)
            got: list[Event] = []
            joined.append((arg, after, got, asyncio.create_task(_consume(sub, got))))
    await server.close()
    await asyncio.wait_for(asyncio.gather(*(task for *_, task in joined)), 10)
    everything = await store.get_events(sid)
    for join, after, got, _ in joined:
        expected = [
            e
            for e in everything
            if (e.sequence_number or 0) > after
            and (join.run_id is None or e.run_id == join.run_id)
            and (join.types is None or e.type in join.types)
        ]
        assert [e.sequence_number for e in got] == [e.sequence_number for e in expected]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_OPS)
def test_every_event_exactly_once_in_order_whenever_the_subscriber_joins(
    ops: list[tuple[str, object]],
) -> None:
    asyncio.run(_scenario(ops))


async def test_subscriber_joining_during_a_run_sees_no_gap_and_no_duplicate() -> None:
    scenario = Scenario().text("first").delay(0.02).tool_call("bash", output="x").text("last")
    manager = SessionManager(InMemorySessionStore(), ScriptedAdapter(scenario))
    async with await SessionServer.open(manager) as server:
        early: list[Event] = []
        early_task = asyncio.create_task(_consume(server.subscribe(), early))
        text_seen = asyncio.Event()

        def on_event(event: Event) -> None:
            if event.type == "message_received":
                text_seen.set()

        run_id = await server.submit_run("go", on_event=on_event)
        await text_seen.wait()
        late: list[Event] = []
        late_task = asyncio.create_task(_consume(server.subscribe(after=2), late))
        only_tools: list[Event] = []
        tools_task = asyncio.create_task(
            _consume(server.subscribe(run_id=run_id, types=["tool_call_started"]), only_tools)
        )
        assert (await server.await_run(run_id)).ok
    await asyncio.wait_for(asyncio.gather(early_task, late_task, tools_task), 10)
    stored = await manager.store.get_events(server.session_id)
    assert early == stored
    assert late == stored[2:]
    assert [e.type for e in only_tools] == ["tool_call_started"]


async def test_not_following_ends_after_the_backlog_and_aclose_stops() -> None:
    manager = SessionManager(InMemorySessionStore(), ScriptedAdapter(Scenario().text("hi")))
    async with await SessionServer.open(manager) as server:
        await server.run("one")
        backlog = [e async for e in server.subscribe(follow=False)]
        assert backlog == await manager.store.get_events(server.session_id)
        sub = server.subscribe(after=len(backlog))
        assert server.status().subscribers == 1
        await sub.aclose()
        assert [e async for e in sub] == []
        assert server.status().subscribers == 0
        with pytest.raises(ValidationError):
            server.subscribe(after=-1)


async def test_live_subscriber_is_woken_without_polling_and_ends_on_close() -> None:
    manager = SessionManager(InMemorySessionStore(), ScriptedAdapter(Scenario().delay(math.inf)))
    server = await SessionServer.open(manager)
    got: list[Event] = []
    task = asyncio.create_task(_consume(server.subscribe(), got))
    run_id = await server.submit_run("wait")
    await asyncio.sleep(0.01)
    await server.close()
    await asyncio.wait_for(task, 10)
    assert got[-1].type == "run_cancelled"
    assert got[-1].run_id == run_id


async def test_a_consumer_timing_out_on_one_event_resumes_at_its_cursor() -> None:
    manager = SessionManager(InMemorySessionStore(), ScriptedAdapter(Scenario()))
    async with await SessionServer.open(manager) as server:
        store, sid = manager.store, server.session_id
        sub = server.subscribe(after=await store.latest_sequence(sid))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(sub), 0.05)
        build = manager.pipeline.build
        first = await store.append_event(build(EmitContext(sid, None), "custom.one", {}))
        await store.append_event(build(EmitContext(sid, None), "custom.two", {}))
        assert [await anext(sub), (await anext(sub)).type] == [first, "custom.two"]
        assert sub.cursor == first.sequence_number + 1  # type: ignore[operator]
        await sub.aclose()


async def test_aclose_from_another_task_ends_a_waiting_consumer_without_an_event() -> None:
    manager = SessionManager(InMemorySessionStore(), ScriptedAdapter(Scenario()))
    async with await SessionServer.open(manager) as server:
        store, sid = manager.store, server.session_id
        sub = server.subscribe(after=await store.latest_sequence(sid))
        waiting = asyncio.ensure_future(anext(sub))
        await asyncio.sleep(0.01)
        await sub.aclose()
        assert server.status().subscribers == 0
        await store.append_event(manager.pipeline.build(EmitContext(sid, None), "custom.one", {}))
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(waiting, 5)
