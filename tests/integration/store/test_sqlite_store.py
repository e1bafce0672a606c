"""The SQLite store: the shared conformance suite on a real file, plus what only SQLite has.

Schema migrations and fail-closed opening, WAL, several writers (store instances and real OS
processes) on one file, the cross-process wake of ``wait_for_events``, closing, group commit and
per-request isolation inside a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
import stat
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from agent_session_manager import (
    Event,
    Run,
    RunStatus,
    Session,
    SessionNotFound,
    SessionStore,
    SQLiteSessionStore,
    StorageError,
    ValidationError,
    open_store,
)
from agent_session_manager.store.sql.migrations import (
    HEAD_REVISION,
    alembic_config,
    upgrade_to_head,
)
from agent_session_manager.testing.store_conformance import (
    InjectedFailure,
    SessionStoreConformance,
)

HANG_GUARD_S = 30.0


class TestSQLiteConformance(SessionStoreConformance):
    #: Whether the store's ``_after_insert`` test seam fails writes (while the hook is active).
    failing = False

    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'store.db'}"

    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[SQLiteSessionStore]:
        store = await SQLiteSessionStore.open(tmp_path / "store.db", _after_insert=self._inject)
        yield store
        await store.close()

    def _inject(self) -> None:
        if self.failing:
            raise InjectedFailure("injected after the events insert")

    @contextlib.contextmanager
    def fail_after_events_written(self, store: SessionStore) -> Iterator[None]:
        self.failing = True
        try:
            yield
        finally:
            self.failing = False


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteSessionStore]:
    store = await SQLiteSessionStore.open(tmp_path / "store.db")
    yield store
    await store.close()


# The conformance kit's helpers: a fresh saved session, and an event carrying {"n": n}.
_event = SessionStoreConformance.event
_session = SessionStoreConformance.new_session


def _dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        lines = list(conn.iterdump())
    conn.close()
    return lines


async def _run_python(code: str, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        textwrap.dedent(code),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), HANG_GUARD_S)
    assert process.returncode == 0, err.decode()
    return out.decode()


_APPEND_SCRIPT = """
    import asyncio, sys
    from agent_session_manager.core.events import Event
    from agent_session_manager.store.sqlite import SQLiteSessionStore

    async def main(path, session_id, count):
        async with await SQLiteSessionStore.open(path) as store:
            events = [
                Event(type="other.process", session_id=session_id, data={"k": k})
                for k in range(count)
            ]
            await asyncio.gather(*(store.append_event(e) for e in events))

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


# -- schema and migrations ----------------------------------------------------------------------
async def test_new_file_gets_the_migrated_schema(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "store.db"
    async with await SQLiteSessionStore.open(path) as store:
        assert store.path == path
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (HEAD_REVISION,)
        ]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert {"asm_sessions", "asm_runs", "asm_events", "asm_session_sequences"} <= tables


def test_head_revision_constant_matches_alembic() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_current_head() == HEAD_REVISION
    assert [r.revision for r in script.walk_revisions()][-1] == "0001"


def test_migration_creates_exactly_the_declared_schema(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from agent_session_manager.store.sql.schema import metadata

    url = f"sqlite:///{tmp_path / 'schema.db'}"
    upgrade_to_head(url)
    upgrade_to_head(url)  # at head: a no-op
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


async def test_open_fails_closed_on_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with await SQLiteSessionStore.open(path) as store:
        session = await _session(store)
        await store.append_event(_event(session.id))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    conn.close()
    before = _dump(path)
    with pytest.raises(StorageError) as info:
        await SQLiteSessionStore.open(path)
    assert info.value.code == "schema_too_new"
    with pytest.raises(StorageError) as info:
        upgrade_to_head(f"sqlite:///{path}")
    assert info.value.code == "schema_too_new"
    assert _dump(path) == before


async def test_open_migrates_an_existing_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    async with await SQLiteSessionStore.open(path) as store:
        session = await _session(store)
        assert (await store.append_event(_event(session.id))).sequence_number == 1


async def test_concurrent_opens_of_a_new_file_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    stores = await asyncio.gather(*(SQLiteSessionStore.open(path) for _ in range(4)))
    try:
        session = await _session(stores[0])
        stored = await asyncio.gather(*(s.append_event(_event(session.id)) for s in stores))
        assert sorted(e.sequence_number or 0 for e in stored) == [1, 2, 3, 4]
    finally:
        for store in stores:
            await store.close()


async def test_opening_at_head_does_not_import_sqlalchemy_or_alembic(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await (await SQLiteSessionStore.open(path)).close()
    out = await _run_python(
        """
        import asyncio, sys
        from agent_session_manager.store.sqlite import SQLiteSessionStore

        async def main():
            async with await SQLiteSessionStore.open(sys.argv[1]):
                pass
            print(sorted(m for m in ("sqlalchemy", "alembic") if m in sys.modules))

        asyncio.run(main())
        """,
        str(path),
    )
    assert out.strip() == "[]"


async def test_unusable_file_raises_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError) as caught:
        await SQLiteSessionStore.open(path)
    assert caught.value.code == "storage_connection_failed"
    assert caught.value.details == {"path": str(path)}
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


async def test_a_folder_in_place_of_the_file_fails_to_open_as_a_connection_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    path.mkdir()
    with pytest.raises(StorageError, match="cannot open SQLite store at") as caught:
        await SQLiteSessionStore.open(path)
    assert caught.value.code == "storage_connection_failed"
    assert caught.value.retryable
    assert isinstance(caught.value.__cause__, sqlite3.Error)


# -- durability and configuration ---------------------------------------------------------------
async def test_wal_mode_is_on(store: SQLiteSessionStore) -> None:
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_naive_timestamps_are_rejected(store: SQLiteSessionStore) -> None:
    session = await _session(store)
    with pytest.raises(ValidationError):
        await store.append_event(_event(session.id, timestamp=datetime(2030, 1, 1)))
    with pytest.raises(ValidationError):
        await store.get_events(session.id, since=datetime(2030, 1, 1))
    assert await store.latest_sequence(session.id) == 0


# -- several writers ----------------------------------------------------------------------------
async def test_two_store_instances_on_one_file_stay_gap_free(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    one = await SQLiteSessionStore.open(path)
    two = await SQLiteSessionStore.open(path)
    try:
        sessions = [await _session(one) for _ in range(10)]
        appends = [
            store.append_event(_event(sessions[i % 10].id, i))
            for i in range(600)
            for store in (one, two)
        ]
        await asyncio.gather(*appends)
        for session in sessions:
            for store in (one, two):
                log = await store.get_events(session.id)
                assert [e.sequence_number for e in log] == list(range(1, 121))
                assert await store.latest_sequence(session.id) == 120
    finally:
        await one.close()
        await two.close()


async def test_other_processes_appending_keep_sequences_gap_free(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    async with await SQLiteSessionStore.open(path) as store:
        session = await _session(store)
        mine = [_event(session.id, i) for i in range(200)]
        await asyncio.gather(
            _run_python(_APPEND_SCRIPT, str(path), session.id, "150"),
            _run_python(_APPEND_SCRIPT, str(path), session.id, "150"),
            *(store.append_event(e) for e in mine),
        )
        log = await store.get_events(session.id)
        assert [e.sequence_number for e in log] == list(range(1, 501))
        assert sum(e.type == "other.process" for e in log) == 300


async def test_a_killed_writer_loses_no_committed_event(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    async with await SQLiteSessionStore.open(path) as store:
        session = await _session(store)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        textwrap.dedent(
            """
            import asyncio, sys
            from agent_session_manager.core.events import Event
            from agent_session_manager.store.sqlite import SQLiteSessionStore

            async def main(path, session_id):
                store = await SQLiteSessionStore.open(path)
                while True:
                    batch = [Event(type="crash.test", session_id=session_id) for _ in range(20)]
                    stored = await store.append_events(batch)
                    print(stored[-1].sequence_number, flush=True)

            asyncio.run(main(sys.argv[1], sys.argv[2]))
            """
        ),
        str(path),
        session.id,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    acknowledged = 0
    try:
        for _ in range(10):
            line = await asyncio.wait_for(process.stdout.readline(), HANG_GUARD_S)
            acknowledged = int(line)
    finally:
        process.kill()  # SIGKILL: no cleanup, mid-transaction or not
        await process.wait()
    async with await SQLiteSessionStore.open(path) as store:
        latest = await store.latest_sequence(session.id)
        assert latest >= acknowledged >= 200
        assert latest % 20 == 0  # whole batches only: no torn transaction
        log = await store.get_events(session.id)
        assert [e.sequence_number for e in log] == list(range(1, latest + 1))
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()


async def test_wait_is_woken_by_an_append_from_another_process(
    store: SQLiteSessionStore,
) -> None:
    session = await _session(store)
    waiter = asyncio.create_task(
        store.wait_for_events(session.id, after=0, timeout=HANG_GUARD_S, types=["other.process"])
    )
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await _run_python(_APPEND_SCRIPT, str(store.path), session.id, "1")
    got = await asyncio.wait_for(waiter, HANG_GUARD_S * 2)
    # A timed-out wait returns []; events here mean the other process's commit woke us.
    assert [e.type for e in got] == ["other.process"]


# -- group commit -------------------------------------------------------------------------------
async def _backlog(store: SQLiteSessionStore, size: int) -> None:
    """Wait until ``size`` requests sit in the writer's queue (the writer may hold one more)."""
    for _ in range(int(HANG_GUARD_S / 0.01)):
        if store._writer._queue.qsize() >= size - 1:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the requests never reached the writer queue")


async def test_concurrent_writes_are_group_committed(store: SQLiteSessionStore) -> None:
    sessions = [await _session(store) for _ in range(10)]
    before = store._writer.transactions
    with store._writer.gate:  # the writer cannot start a batch while we hold it
        tasks = [
            asyncio.create_task(store.append_event(_event(sessions[i % 10].id, i)))
            for i in range(200)
        ]
        await _backlog(store, 200)
    stored = await asyncio.gather(*tasks)
    assert store._writer.transactions == before + 1
    for session in sessions:
        mine = sorted(e.sequence_number or 0 for e in stored if e.session_id == session.id)
        assert mine == list(range(1, 21))


async def test_a_failing_request_does_not_poison_its_batch(store: SQLiteSessionStore) -> None:
    session = await _session(store)
    run = Run(session_id=session.id)
    await store.save_run(run)
    before = store._writer.transactions
    with store._writer.gate:
        tasks = [
            asyncio.create_task(store.append_event(_event(session.id, 1))),
            asyncio.create_task(store.append_event(_event("ses_unknown", 2))),
            asyncio.create_task(store.append_events([_event(session.id, 3), _event(session.id)])),
            asyncio.create_task(
                store.flush(
                    run=run.transition(RunStatus.RUNNING),
                    events=[_event(session.id, 4), _event("ses_unknown", 5)],
                )
            ),
            asyncio.create_task(store.save_run(Run(session_id="ses_unknown"))),
            asyncio.create_task(store.append_event(_event(session.id, 6))),
        ]
        await _backlog(store, len(tasks))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert store._writer.transactions == before + 1
    assert [type(results[i]).__name__ for i in (1, 3, 4)] == ["ValidationError"] * 3
    assert [isinstance(results[i], BaseException) for i in (0, 2, 5)] == [False] * 3
    log = await store.get_events(session.id)
    assert [e.data["n"] for e in log] == [1, 3, 0, 6]
    assert [e.sequence_number for e in log] == [1, 2, 3, 4]
    assert await store.get_run(run.id) == run  # the failed flush left the run alone


async def test_a_stored_id_in_a_batch_of_appends_is_returned_as_stored(
    store: SQLiteSessionStore,
) -> None:
    # Appends queued together are inserted without looking their ids up; a stored id among
    # them rolls that attempt back and the batch is written again with lookups, in one commit.
    session = await _session(store)
    kept = await store.append_event(_event(session.id, 0))
    before = store._writer.transactions
    with store._writer.gate:
        tasks = [
            asyncio.create_task(store.append_event(_event(session.id, 1))),
            asyncio.create_task(
                store.append_event(dataclasses.replace(kept, sequence_number=None))
            ),
            asyncio.create_task(store.append_events([_event(session.id, 2), kept])),
            asyncio.create_task(store.append_event(_event(session.id, 3))),
        ]
        await _backlog(store, len(tasks))
    first, again, pair, last = await asyncio.gather(*tasks)
    assert store._writer.transactions == before + 1
    assert again == kept
    assert isinstance(pair, list)
    assert pair[1] == kept
    assert [first.sequence_number, pair[0].sequence_number, last.sequence_number] == [2, 3, 4]
    log = await store.get_events(session.id)
    assert [e.data["n"] for e in log] == [0, 1, 2, 3]
    assert [e.sequence_number for e in log] == [1, 2, 3, 4]
    assert await store.latest_sequence(session.id) == 4


async def test_a_batch_keeps_request_order_between_writes_and_appends(
    store: SQLiteSessionStore,
) -> None:
    # Appends queued together are written as one insert, but after the writes queued before
    # them: a session saved earlier in the same batch already exists for its appends.
    fresh = Session(agent_id="sqlite-agent")
    before = store._writer.transactions
    with store._writer.gate:
        tasks = [
            asyncio.create_task(store.save_session(fresh)),
            asyncio.create_task(store.append_event(_event(fresh.id, 1))),
            asyncio.create_task(store.append_events([_event(fresh.id, 2), _event(fresh.id, 3)])),
            asyncio.create_task(store.delete_session(fresh.id)),
            asyncio.create_task(store.append_event(_event(fresh.id, 4))),
        ]
        await _backlog(store, len(tasks))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert store._writer.transactions == before + 1
    first, pair = results[1], results[2]
    assert isinstance(first, Event)
    assert first.sequence_number == 1
    assert isinstance(pair, list)
    assert [e.sequence_number for e in pair] == [2, 3]
    assert isinstance(results[4], ValidationError)  # the session was deleted before it
    with pytest.raises(SessionNotFound):
        await store.get_session(fresh.id)


# -- long-poll woken with the committed events ------------------------------------------------
async def test_a_woken_waiter_gets_the_commit_that_woke_it_filtered(
    store: SQLiteSessionStore,
) -> None:
    session = await _session(store)
    await store.append_event(_event(session.id, 0))
    waiter = asyncio.create_task(
        store.wait_for_events(
            session.id, after=1, timeout=HANG_GUARD_S, types=["sqlite.wanted"], limit=2
        )
    )
    await asyncio.sleep(0.05)
    batch = [Event(type="sqlite.wanted", session_id=session.id, data={"n": n}) for n in (1, 2, 3)]
    stored = await store.append_events([_event(session.id, 9), *batch])
    got = await asyncio.wait_for(waiter, HANG_GUARD_S)
    assert got == stored[1:3]
    assert [e.sequence_number for e in got] == [3, 4]


async def test_a_waiter_never_skips_an_event_committed_by_another_writer(
    tmp_path: Path,
) -> None:
    # Two stores on one file have two writer threads, like two processes. An event committed
    # by the other one, then one by ours: the waiter must get both, not only the one our
    # writer told it about.
    async with (
        await SQLiteSessionStore.open(tmp_path / "two.db") as ours,
        await SQLiteSessionStore.open(tmp_path / "two.db") as theirs,
    ):
        session = await _session(ours)
        waiter = asyncio.create_task(
            ours.wait_for_events(session.id, after=0, timeout=HANG_GUARD_S)
        )
        await asyncio.sleep(0.05)
        first = await theirs.append_event(_event(session.id, 1))
        second = await ours.append_event(_event(session.id, 2))
        got = await asyncio.wait_for(waiter, HANG_GUARD_S)
        assert got in ([first, second], [first])  # [first] if the 75 ms check came first
        assert got[0] == first


async def test_a_new_store_folder_and_files_are_private_to_their_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default location (platformdirs honours XDG_DATA_HOME), as `asm` opens it.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("ASM_STORE", raising=False)
    store = await open_store()
    try:
        session = await _session(store)
        await store.append_events([_event(session.id, n) for n in range(3)])
        folder = tmp_path / "data" / "agent-session-manager"
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        files = sorted(p.name for p in folder.iterdir())
        assert files == ["asm.db", "asm.db-shm", "asm.db-wal"]
        for name in files:
            assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    finally:
        await store.close()


async def test_an_existing_store_folder_and_file_keep_their_permissions(tmp_path: Path) -> None:
    folder = tmp_path / "team"
    folder.mkdir()
    folder.chmod(0o750)
    path = folder / "shared.db"
    path.touch()
    path.chmod(0o640)
    store = await SQLiteSessionStore.open(path)
    await store.close()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
