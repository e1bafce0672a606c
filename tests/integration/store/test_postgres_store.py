"""The PostgreSQL store: the shared conformance suite on a real server, plus what only it has.

Schema migration on open and fail-closed opening, concurrent first opens, group commit and
per-request isolation inside a batch, LISTEN/NOTIFY wake-ups between store instances, closing,
and the input only PostgreSQL refuses (over-long ids). Needs the server of
``agent_session_manager.testing.postgres`` (skipped without it, failed under ``CI=true``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from agent_session_manager import (
    PostgresSessionStore,
    Run,
    RunStatus,
    Session,
    SessionStore,
    StorageError,
    ValidationError,
    open_store,
)
from agent_session_manager.store.postgres import _open as postgres_open
from agent_session_manager.store.sql.migrations import HEAD_REVISION, upgrade_to_head
from agent_session_manager.store.sql.schema import metadata
from agent_session_manager.testing.postgres import temporary_database
from agent_session_manager.testing.store_conformance import (
    InjectedFailure,
    SessionStoreConformance,
)

HANG_GUARD_S = 30.0


class TestPostgresConformance(SessionStoreConformance):
    #: Whether the store's ``_after_insert`` test seam fails writes (while the hook is active).
    failing = False

    @pytest.fixture
    def store_url(self, postgres_url: str) -> str:
        return postgres_url

    @pytest.fixture
    async def store(self, postgres_url: str) -> AsyncIterator[PostgresSessionStore]:
        store = await PostgresSessionStore.open(postgres_url, _after_insert=self._inject)
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
async def store(postgres_url: str) -> AsyncIterator[PostgresSessionStore]:
    store = await PostgresSessionStore.open(postgres_url)
    yield store
    await store.close()


# The conformance kit's helpers: a fresh saved session, and an event carrying {"n": n}.
_event = SessionStoreConformance.event
_session = SessionStoreConformance.new_session


async def _fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


# -- schema and migrations ----------------------------------------------------------------------
async def test_a_new_database_gets_the_declared_schema(postgres_server: str) -> None:
    with temporary_database(postgres_server) as url:
        async with await open_store(url) as store:
            assert isinstance(store, PostgresSessionStore)
        assert await _fetch(url, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
        columns = await _fetch(
            url,
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name LIKE 'asm_%'",
        )
        declared = {
            (table.name, column.name, "YES" if column.nullable else "NO")
            for table in metadata.sorted_tables
            for column in table.columns
        }
        assert set(columns) == declared
        indexes = {r[0] for r in await _fetch(url, "SELECT indexname FROM pg_indexes")}
        for table in metadata.sorted_tables:
            assert {index.name for index in table.indexes} <= indexes
        upgrade_to_head(url)  # at head: a no-op
        assert await _fetch(url, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]


async def test_open_fails_closed_on_a_newer_schema(postgres_server: str) -> None:
    with temporary_database(postgres_server) as url:
        async with await PostgresSessionStore.open(url) as store:
            session = await _session(store)
            await store.append_event(_event(session.id))
        conn = await asyncpg.connect(url)
        await conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
        await conn.close()
        with pytest.raises(StorageError) as info:
            await PostgresSessionStore.open(url)
        assert info.value.code == "schema_too_new"
        with pytest.raises(StorageError) as info:
            await asyncio.to_thread(upgrade_to_head, url)
        assert info.value.code == "schema_too_new"
        assert await _fetch(url, "SELECT count(*) FROM asm_events") == [(1,)]
        assert await _fetch(url, "SELECT version_num FROM alembic_version") == [
            ("9999_from_the_future",)
        ]


async def test_concurrent_first_opens_migrate_once(postgres_server: str) -> None:
    with temporary_database(postgres_server) as url:
        stores = await asyncio.gather(*(PostgresSessionStore.open(url) for _ in range(4)))
        try:
            session = await _session(stores[0])
            stored = await asyncio.gather(*(s.append_event(_event(session.id)) for s in stores))
            assert sorted(e.sequence_number or 0 for e in stored) == [1, 2, 3, 4]
        finally:
            for store in stores:
                await store.close()


async def test_opening_at_head_does_not_import_sqlalchemy_or_alembic(postgres_url: str) -> None:
    code = """
        import asyncio, sys
        from agent_session_manager.store.postgres import PostgresSessionStore

        async def main():
            async with await PostgresSessionStore.open(sys.argv[1]):
                pass
            print(sorted(m for m in ("sqlalchemy", "alembic") if m in sys.modules))

        asyncio.run(main())
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        textwrap.dedent(code),
        postgres_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), HANG_GUARD_S)
    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == "[]"


async def test_an_unreachable_server_raises_storage_error() -> None:
    with pytest.raises(StorageError) as info:
        await PostgresSessionStore.open("postgresql://127.0.0.1:1/none", connect_timeout=5)
    assert info.value.code == "storage_connection_failed"


async def test_factory_spellings_open_postgres(postgres_url: str) -> None:
    rest = postgres_url.partition("://")[2]
    for scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        store = await open_store(f"{scheme}://{rest}")
        try:
            assert isinstance(store, PostgresSessionStore)
        finally:
            await store.close()


# -- writes -------------------------------------------------------------------------------------
async def test_concurrent_writes_are_group_committed(store: PostgresSessionStore) -> None:
    sessions = [await _session(store) for _ in range(10)]
    before = store.write_transactions
    stored = await asyncio.gather(
        *(store.append_event(_event(sessions[i % 10].id, i)) for i in range(500))
    )
    assert store.write_transactions - before < 500
    for session in sessions:
        mine = sorted(e.sequence_number or 0 for e in stored if e.session_id == session.id)
        assert mine == list(range(1, 51))


async def test_a_stored_id_in_a_batch_of_appends_is_returned_as_stored(
    store: PostgresSessionStore,
) -> None:
    # A batch's appends are written without looking their ids up; a stored id among them fails
    # the COPY, and the batch is written again with the lookup, in one committed transaction.
    session = await _session(store)
    kept = await store.append_event(_event(session.id, 0))
    before = store.write_transactions
    first, again, pair, last = await asyncio.gather(
        store.append_event(_event(session.id, 1)),
        store.append_event(dataclasses.replace(kept, sequence_number=None)),
        store.append_events([_event(session.id, 2), kept]),
        store.append_event(_event(session.id, 3)),
    )
    assert store.write_transactions == before + 1
    assert again == kept
    assert pair[1] == kept
    assert [first.sequence_number, pair[0].sequence_number, last.sequence_number] == [2, 3, 4]
    log = await store.get_events(session.id)
    assert [e.data["n"] for e in log] == [0, 1, 2, 3]
    assert [e.sequence_number for e in log] == [1, 2, 3, 4]


async def test_a_failing_request_does_not_poison_its_batch(store: PostgresSessionStore) -> None:
    session = await _session(store)
    run = Run(session_id=session.id)
    await store.save_run(run)
    results = await asyncio.gather(
        store.append_event(_event(session.id, 1)),
        store.append_event(_event("ses_unknown", 2)),
        store.append_events([_event(session.id, 3), _event(session.id)]),
        store.flush(
            run=run.transition(RunStatus.RUNNING),
            events=[_event(session.id, 4), _event("ses_unknown", 5)],
        ),
        store.save_run(Run(session_id="ses_unknown")),
        store.append_event(_event(session.id, 6)),
        return_exceptions=True,
    )
    assert [type(results[i]).__name__ for i in (1, 3, 4)] == ["ValidationError"] * 3
    assert [isinstance(results[i], BaseException) for i in (0, 2, 5)] == [False] * 3
    log = await store.get_events(session.id)
    assert sorted(e.data["n"] for e in log) == [0, 1, 3, 6]
    assert [e.sequence_number for e in log] == [1, 2, 3, 4]
    assert await store.get_run(run.id) == run  # the failed flush left the run alone


async def test_over_long_ids_are_rejected(store: PostgresSessionStore) -> None:
    session = await _session(store)
    with pytest.raises(ValidationError):
        await store.append_event(_event(session.id, id="evt_" + "x" * 100))
    with pytest.raises(ValidationError):
        await store.append_event(_event(session.id, run_id="run_" + "x" * 100))
    with pytest.raises(ValidationError):
        await store.save_session(Session(agent_id="a" * 300))
    assert await store.latest_sequence(session.id) == 0


# -- plans ----------------------------------------------------------------------------------------
async def _generic_plan_of_the_id_lookup(conn: asyncpg.Connection) -> str:
    """The plan a generic (cached) plan of the idempotency lookup gets on ``conn``, made while
    the events table is empty, as a prepared statement's plan is on a new database."""
    async with conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(
            "PREPARE lookup(bytea[]) AS SELECT id FROM asm_events WHERE id = ANY($1)"
        )
        try:
            rows = await conn.fetch("EXPLAIN EXECUTE lookup('{}')")
        finally:
            await conn.execute("DEALLOCATE lookup")
    return "\n".join(row[0] for row in rows)


async def test_writer_plans_stay_index_plans_when_made_on_empty_tables(postgres_url: str) -> None:
    async with await PostgresSessionStore.open(postgres_url):  # creates the (empty) schema
        pass
    dsn = postgres_open.asyncpg_dsn(postgres_url)
    writer = await postgres_open._connect(dsn, 10, writer=True)
    reader = await postgres_open._connect(dsn, 10)
    try:
        assert await writer.fetchval("SHOW plan_cache_mode") == "auto"  # generic plans allowed
        assert "Index" in await _generic_plan_of_the_id_lookup(writer)
        # Readers plan each query anew instead; a generic plan there would scan the table.
        assert await reader.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
        assert "Seq Scan on asm_events" in await _generic_plan_of_the_id_lookup(reader)
    finally:
        await writer.close()
        await reader.close()


# -- lost connections -----------------------------------------------------------------------------
async def test_a_killed_writer_connection_is_replaced(postgres_url: str) -> None:
    async with await PostgresSessionStore.open(postgres_url) as store:
        session = await _session(store)
        await store.append_event(_event(session.id))
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", store._writers[0].pid)
        finally:
            await admin.close()
        # Nothing was committed on the dead connection: the write is retried on a new one.
        stored = [await store.append_event(_event(session.id, n)) for n in range(3)]
        assert [e.sequence_number for e in stored] == [2, 3, 4]
        log = await store.get_events(session.id)
        assert [e.sequence_number for e in log] == list(range(1, len(log) + 1))


async def test_a_killed_listener_connection_is_replaced(postgres_url: str) -> None:
    async with (
        await PostgresSessionStore.open(postgres_url) as reader,
        await PostgresSessionStore.open(postgres_url) as writer,
    ):
        session = await _session(writer)
        waiter = asyncio.create_task(
            reader.wait_for_events(session.id, after=0, timeout=HANG_GUARD_S)
        )
        await asyncio.sleep(0.1)
        assert reader._listener.conn is not None
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend($1)", reader._listener.conn.get_server_pid()
            )
        finally:
            await admin.close()
        await asyncio.sleep(0.2)
        assert not waiter.done()  # it re-listened instead of returning early
        stored = await writer.append_event(_event(session.id))
        assert await asyncio.wait_for(waiter, HANG_GUARD_S * 2) == [stored]
