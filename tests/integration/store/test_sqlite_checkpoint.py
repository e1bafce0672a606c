"""The SQLite store's WAL checkpoints run on their own thread, never inside an append's commit."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent_session_manager import Event, Session, SQLiteSessionStore
from agent_session_manager.store.sqlite._checkpointer import (
    SAFETY_AUTOCHECKPOINT_PAGES,
    Checkpointer,
)

HANG_GUARD_S = 30.0


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


async def test_appends_past_the_threshold_are_checkpointed_in_the_background(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    async with await SQLiteSessionStore.open(path, checkpoint_pages=20) as store:
        sessions = [Session(agent_id="a") for _ in range(5)]
        for session in sessions:
            await store.save_session(session)
        size_before = path.stat().st_size
        assert store._checkpointer.checkpoints == 0
        data = {"text": "x" * 2000}
        await asyncio.gather(
            *(
                store.append_event(Event(type="message_received", session_id=s.id, data=data))
                for s in sessions
                for _ in range(10)
            )
        )
        await asyncio.to_thread(
            _until, lambda: store._checkpointer.checkpoints >= 1, "a checkpoint"
        )
        # The events moved from the WAL into the database file, which the writer never did.
        assert path.stat().st_size > size_before + 50 * 2000
        for session in sessions:
            assert len(await store.get_events(session.id)) == 10


async def test_the_writer_checkpoints_itself_only_as_a_safety_net(tmp_path: Path) -> None:
    async with await SQLiteSessionStore.open(tmp_path / "store.db") as store:
        conn = store._writer._conn
        (pages,) = await asyncio.to_thread(
            lambda: conn.execute("PRAGMA wal_autocheckpoint").fetchone()
        )
    assert pages == SAFETY_AUTOCHECKPOINT_PAGES


async def test_few_pages_ask_for_no_checkpoint(tmp_path: Path) -> None:
    async with await SQLiteSessionStore.open(tmp_path / "store.db") as store:
        session = Session(agent_id="a")
        await store.save_session(session)
        for _ in range(20):
            await store.append_event(Event(type="message_received", session_id=session.id))
        assert store._checkpointer.checkpoints == 0


def test_a_failing_checkpoint_is_logged_and_the_thread_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[int] = []

    def connect() -> sqlite3.Connection:
        attempts.append(1)
        if len(attempts) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        return sqlite3.connect(tmp_path / "db.sqlite", check_same_thread=False)

    checkpointer = Checkpointer(connect, "test-checkpoint")
    with caplog.at_level(logging.WARNING):
        checkpointer.request()
        _until(lambda: bool(caplog.records), "the failure to be logged")
        checkpointer.request()
        _until(lambda: checkpointer.checkpoints == 1, "the second checkpoint")
    checkpointer.stop()
    assert "background WAL checkpoint failed: disk I/O error" in caplog.text
    assert len(attempts) == 2


def test_stop_without_any_checkpoint_opens_no_connection() -> None:
    def connect() -> sqlite3.Connection:
        raise AssertionError("no checkpoint was asked for")

    checkpointer = Checkpointer(connect, "test-checkpoint")
    checkpointer.stop()
    assert checkpointer.checkpoints == 0


def test_a_store_that_fails_to_start_leaves_no_thread_behind(tmp_path: Path) -> None:
    # The writer's first query fails (on a closed connection) after the reader and checkpoint
    # threads have started; the constructor takes the connection, so it is the seam.
    conn = sqlite3.connect(tmp_path / "store.db", check_same_thread=False)
    conn.close()
    before = set(threading.enumerate())
    with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
        SQLiteSessionStore(tmp_path / "store.db", conn)
    left = [t.name for t in set(threading.enumerate()) - before if t.name.startswith("asm-")]
    assert left == []
