"""What both SQL stores promise beyond the conformance suite, on SQLite and PostgreSQL alike:
reopening keeps everything, another store instance's append wakes a waiter, closing wakes
waiters and finishes queued writes, and a session whose counter row other tooling left out
gets one. Each test runs once per backend (PostgreSQL: skipped without a server, failed under
``CI=true``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from agent_session_manager import Run, RunStatus, SessionStatus, StorageError, open_store
from agent_session_manager.testing.store_conformance import SessionStoreConformance

HANG_GUARD_S = 30.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


async def _execute(url: str, sql: str, *params: Any) -> None:
    """Run one statement on the store's database with the bare driver (as other tooling)."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            with conn:
                conn.execute(sql.replace("$1", "?"), params)
        finally:
            conn.close()
        return

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql, *params)
    finally:
        await conn.close()


# The conformance kit's helpers: a fresh saved session, and an event carrying {"n": n}.
_event = SessionStoreConformance.event
_session = SessionStoreConformance.new_session


async def test_reopen_preserves_everything(store_url: str) -> None:
    async with await open_store(store_url) as store:
        session = await _session(store, tags=("a", "b"), metadata={"k": "v"})
        run = Run(session_id=session.id).transition(RunStatus.RUNNING)
        await store.save_run(run)
        events = await store.append_events([_event(session.id, i, run_id=run.id) for i in range(5)])
        done = run.transition(RunStatus.COMPLETED)
        active = session.transition(SessionStatus.ACTIVE)
        events += await store.flush(run=done, session=active, events=[_event(session.id, 5)])
    async with await open_store(store_url) as store:
        assert await store.get_session(session.id) == active
        assert await store.get_run(run.id) == done
        assert await store.list_runs(session.id) == [done]
        assert await store.get_events(session.id) == events
        assert await store.latest_sequence(session.id) == 6
        assert (await store.append_event(_event(session.id))).sequence_number == 7
        assert (await store.append_event(events[0])).sequence_number == 1  # still idempotent


async def test_wait_is_woken_by_another_store_instance(store_url: str) -> None:
    async with await open_store(store_url) as reader, await open_store(store_url) as writer:
        session = await _session(writer)
        waiter = asyncio.create_task(
            reader.wait_for_events(session.id, after=0, timeout=HANG_GUARD_S)
        )
        await asyncio.sleep(0.1)
        assert not waiter.done()
        stored = await writer.append_event(_event(session.id))
        assert await asyncio.wait_for(waiter, HANG_GUARD_S * 2) == [stored]


async def test_close_wakes_waiters_and_later_calls_fail(store_url: str) -> None:
    store = await open_store(store_url)
    session = await _session(store)
    waiters = [
        asyncio.create_task(store.wait_for_events(session.id, after=0, timeout=HANG_GUARD_S))
        for _ in range(3)
    ]
    await asyncio.sleep(0.1)
    assert not any(w.done() for w in waiters)
    await store.close()
    assert await asyncio.wait_for(asyncio.gather(*waiters), HANG_GUARD_S) == [[], [], []]
    await store.close()  # idempotent
    with pytest.raises(StorageError):
        await store.append_event(_event(session.id))
    with pytest.raises(StorageError):
        await store.get_events(session.id)


async def test_close_finishes_queued_writes(store_url: str) -> None:
    store = await open_store(store_url)
    session = await _session(store)
    appends = [asyncio.create_task(store.append_event(_event(session.id, i))) for i in range(50)]
    await asyncio.sleep(0)
    await store.close()
    stored = await asyncio.gather(*appends)
    assert sorted(e.sequence_number or 0 for e in stored) == list(range(1, 51))
    async with await open_store(store_url) as again:
        assert await again.latest_sequence(session.id) == 50


async def test_a_session_without_its_counter_row_gets_one(store_url: str) -> None:
    """Counter rows written by other tooling may be missing: the session starts at 1 (on
    PostgreSQL the batch takes the path that does not reserve in its first round trip)."""
    async with await open_store(store_url) as store:
        bare, normal = await _session(store), await _session(store)
        await _execute(
            store_url, "DELETE FROM asm_session_sequences WHERE session_id = $1", bare.id
        )
        stored = await asyncio.gather(
            store.append_event(_event(bare.id, 1)),
            store.append_event(_event(normal.id, 2)),
            store.append_events([_event(normal.id, 3), _event(bare.id, 4)]),
        )
        assert [e.sequence_number for e in stored[2]] == [2, 2]
        assert (await store.get_events(bare.id))[0].data["n"] == 1
        assert await store.latest_sequence(bare.id) == 2
