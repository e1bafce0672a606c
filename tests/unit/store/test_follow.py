"""follow_events on the in-memory store: cursor continuity across pages, ``before``, ``limit``,
filters pushed to the store, the stop signal, wake-ups by an append, and the store closing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from agent_session_manager import (
    Event,
    InMemorySessionStore,
    StorageError,
    ValidationError,
    follow_events,
)
from agent_session_manager import follow_events as public_follow_events
from agent_session_manager.testing.store_conformance import SessionStoreConformance

pytestmark = pytest.mark.timeout(30)

# The conformance kit's helpers: a fresh saved session, and an event carrying {"n": n}.
_event = SessionStoreConformance.event
_session = SessionStoreConformance.new_session

#: Long enough that a test ending on time proves it was woken, not timed out.
_PARKED = 30.0
#: How soon a wake-up or a stop must be seen.
_PROMPT = 2.0


@pytest.fixture
async def store() -> AsyncIterator[InMemorySessionStore]:
    store = InMemorySessionStore()
    yield store
    await store.close()


async def _fill(store: InMemorySessionStore, session_id: str, count: int, **fields: Any) -> None:
    for n in range(count):
        await store.append_event(_event(session_id, n, **fields))


def _numbers(events: Sequence[Event]) -> list[int | None]:
    return [e.sequence_number for e in events]


async def _collect(events: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in events]


def test_it_is_exported_from_the_package() -> None:
    assert public_follow_events is follow_events


async def test_pages_join_without_gap_or_duplicate(store: InMemorySessionStore) -> None:
    session = await _session(store)
    await _fill(store, session.id, 23)
    got = await _collect(follow_events(store, session.id, follow=False, page_size=5))
    assert got == await store.get_events(session.id)
    later = await _collect(follow_events(store, session.id, after=7, follow=False, page_size=4))
    assert _numbers(later) == list(range(8, 24))


async def test_before_limit_and_filters(store: InMemorySessionStore) -> None:
    session = await _session(store)
    for n in range(12):
        kind = "custom.odd" if n % 2 else "custom.even"
        await store.append_event(_event(session.id, n, type=kind, run_id=f"run_{n % 3}"))

    async def numbers(**kwargs: Any) -> list[int | None]:
        found = follow_events(store, session.id, follow=False, page_size=2, **kwargs)
        return _numbers(await _collect(found))

    assert await numbers(before=5) == [1, 2, 3, 4]
    assert await numbers(after=2, before=6, limit=2) == [3, 4]
    assert await numbers(types=["custom.odd"]) == [2, 4, 6, 8, 10, 12]
    assert await numbers(types="custom.odd", run_id="run_1", limit=1) == [2]
    assert await numbers(types=["custom.even"], run_id="run_0", before=10) == [1, 7]


async def test_filters_are_pushed_to_the_store(store: InMemorySessionStore) -> None:
    session = await _session(store)
    await _fill(store, session.id, 3)
    asked: list[dict[str, Any]] = []
    original = store.get_events

    async def spy(session_id: str, **kwargs: Any) -> list[Event]:
        asked.append(kwargs)
        return await original(session_id, **kwargs)

    store.get_events = spy  # type: ignore[method-assign]
    found = follow_events(store, session.id, run_id="run_x", types=["custom.a"], follow=False)
    assert await _collect(found) == []
    assert asked == [
        {"after": 0, "before": None, "run_id": "run_x", "types": ["custom.a"], "limit": 500}
    ]


async def test_an_append_from_another_task_wakes_a_parked_follower(
    store: InMemorySessionStore,
) -> None:
    session = await _session(store)
    await _fill(store, session.id, 2)
    follower = follow_events(store, session.id, types=["custom.late"], wait_timeout=_PARKED)
    first = asyncio.ensure_future(anext(follower))
    await asyncio.sleep(0.05)
    assert not first.done()
    await store.append_event(_event(session.id, 9, type="custom.other"))
    await asyncio.sleep(0.05)
    assert not first.done()  # a non-matching append does not end the wait
    await store.append_event(_event(session.id, 10, type="custom.late"))
    event = await asyncio.wait_for(first, _PROMPT)
    assert (event.sequence_number, event.data) == (4, {"n": 10})
    await follower.aclose()


async def test_follow_with_limit_ends_after_live_events(store: InMemorySessionStore) -> None:
    session = await _session(store)
    await _fill(store, session.id, 2)
    task = asyncio.create_task(
        _collect(follow_events(store, session.id, limit=4, wait_timeout=_PARKED))
    )
    await asyncio.sleep(0.05)
    await _fill(store, session.id, 5)
    assert _numbers(await asyncio.wait_for(task, _PROMPT)) == [1, 2, 3, 4]


async def test_follow_ends_once_the_log_passes_before_even_without_a_match(
    store: InMemorySessionStore,
) -> None:
    session = await _session(store)
    await _fill(store, session.id, 1, type="custom.wanted")
    found = follow_events(
        store, session.id, before=4, types=["custom.wanted"], wait_timeout=_PARKED
    )
    task = asyncio.create_task(_collect(found))
    await asyncio.sleep(0.05)
    await _fill(store, session.id, 1, type="custom.wanted")
    await asyncio.sleep(0.05)
    assert not task.done()  # the log has not reached 3 yet
    await _fill(store, session.id, 3, type="custom.other")  # 3, 4, 5: past `before`
    assert _numbers(await asyncio.wait_for(task, _PROMPT)) == [1, 2]


async def test_stop_ends_a_parked_wait_promptly_after_delivering_what_is_stored(
    store: InMemorySessionStore,
) -> None:
    session = await _session(store)
    await _fill(store, session.id, 3)
    stop = asyncio.Event()
    got: list[Event] = []

    async def consume() -> None:
        async for event in follow_events(store, session.id, wait_timeout=_PARKED, stop=stop):
            got.append(event)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    assert _numbers(got) == [1, 2, 3]
    await _fill(store, session.id, 2)
    stop.set()
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(task, _PROMPT)
    assert asyncio.get_running_loop().time() - started < 0.5
    assert _numbers(got) == [1, 2, 3, 4, 5]


async def test_stop_set_before_the_start_delivers_the_backlog_and_ends(
    store: InMemorySessionStore,
) -> None:
    session = await _session(store)
    await _fill(store, session.id, 4)
    stop = asyncio.Event()
    stop.set()
    got = await asyncio.wait_for(
        _collect(follow_events(store, session.id, page_size=3, stop=stop)), _PROMPT
    )
    assert _numbers(got) == [1, 2, 3, 4]


async def test_a_store_closed_under_a_parked_follower_raises(store: InMemorySessionStore) -> None:
    session = await _session(store)
    await _fill(store, session.id, 1)
    task = asyncio.create_task(_collect(follow_events(store, session.id, wait_timeout=_PARKED)))
    await asyncio.sleep(0.05)
    await store.close()
    with pytest.raises(StorageError, match="closed while following"):
        await asyncio.wait_for(task, _PROMPT)


@pytest.mark.parametrize(
    "bad",
    [
        {"after": -1},
        {"before": 0},
        {"limit": 0},
        {"limit": True},
        {"page_size": 0},
        {"wait_timeout": 0},
        {"wait_timeout": "1"},
    ],
)
def test_bad_arguments_are_refused_at_the_call(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        follow_events(InMemorySessionStore(), "ses_x", **bad)
