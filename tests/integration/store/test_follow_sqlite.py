"""follow_events on a real SQLite file: pages, ``before`` and filters through the SQL store, a
parked follower woken by an append from another task or another process, stopped promptly, and
a store closed under it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_session_manager import Event, SQLiteSessionStore, StorageError, follow_events
from agent_session_manager.testing.store_conformance import SessionStoreConformance

pytestmark = pytest.mark.timeout(60)

# The conformance kit's helpers: a fresh saved session, and an event carrying {"n": n}.
_event = SessionStoreConformance.event
_session = SessionStoreConformance.new_session

ROOT = Path(__file__).resolve().parents[3]
#: Long enough that a test ending on time proves it was woken, not timed out.
_PARKED = 30.0
_PROMPT = 5.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteSessionStore]:
    store = await SQLiteSessionStore.open(tmp_path / "store.db")
    yield store
    await store.close()


async def _collect(events: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in events]


async def test_pages_before_and_filters_read_through_sql(store: SQLiteSessionStore) -> None:
    session = await _session(store)
    kinds = ["custom.odd" if n % 2 else "custom.even" for n in range(30)]
    await store.append_events([_event(session.id, n, type=kind) for n, kind in enumerate(kinds)])
    everything = await _collect(follow_events(store, session.id, follow=False, page_size=7))
    assert everything == await store.get_events(session.id)
    odd = follow_events(store, session.id, types=["custom.odd"], before=20, page_size=3, limit=5)
    assert [e.sequence_number for e in await _collect(odd)] == [2, 4, 6, 8, 10]


async def test_another_task_wakes_it_and_passing_before_ends_it(
    store: SQLiteSessionStore,
) -> None:
    session = await _session(store)
    found = follow_events(
        store, session.id, before=5, types=["custom.wanted"], wait_timeout=_PARKED
    )
    task = asyncio.create_task(_collect(found))
    await asyncio.sleep(0.05)
    await store.append_event(_event(session.id, 1, type="custom.wanted"))
    await store.append_events([_event(session.id, n, type="custom.other") for n in range(2, 6)])
    got = await asyncio.wait_for(task, _PROMPT)
    assert [(e.sequence_number, e.data) for e in got] == [(1, {"n": 1})]


async def test_stop_ends_a_parked_wait_promptly(store: SQLiteSessionStore) -> None:
    session = await _session(store)
    await store.append_event(_event(session.id, 1))
    stop = asyncio.Event()
    task = asyncio.create_task(
        _collect(follow_events(store, session.id, wait_timeout=_PARKED, stop=stop))
    )
    await asyncio.sleep(0.1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    stop.set()
    got = await asyncio.wait_for(task, _PROMPT)
    assert loop.time() - started < 0.5
    assert [e.sequence_number for e in got] == [1]


async def test_closing_the_store_under_a_parked_follower_raises(tmp_path: Path) -> None:
    store = await SQLiteSessionStore.open(tmp_path / "store.db")
    session = await _session(store)
    task = asyncio.create_task(_collect(follow_events(store, session.id, wait_timeout=_PARKED)))
    await asyncio.sleep(0.1)
    await store.close()
    with pytest.raises(StorageError):
        await asyncio.wait_for(task, _PROMPT)


async def test_events_appended_by_another_process_arrive_in_order_once(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = await SQLiteSessionStore.open(path)
    try:
        session = await _session(store)
        child_count, own_count = 300, 40
        total = child_count + own_count
        follower = asyncio.create_task(
            _collect(follow_events(store, session.id, limit=total, page_size=16))
        )
        child = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "tests.support.sqlite_writer_child"),
            *(str(path), session.id, str(child_count)),
            cwd=ROOT,
        )
        for n in range(own_count):  # this process writes too, interleaved with the child
            await store.append_event(_event(session.id, n, type="custom.parent"))
            await asyncio.sleep(0.005)
        assert await asyncio.wait_for(child.wait(), 30) == 0
        got = await asyncio.wait_for(follower, 30)
        stored = await store.get_events(session.id)
    finally:
        await store.close()
    assert [e.sequence_number for e in got] == list(range(1, total + 1))
    assert got == stored
    child_numbers = [e.data["n"] for e in got if e.type == "custom.child"]
    assert child_numbers == list(range(child_count))
