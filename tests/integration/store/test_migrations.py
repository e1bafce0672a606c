"""Seeded-data upgrade tests: the pattern every schema migration follows, on SQLite and PostgreSQL.

For a new revision N, add a :class:`MigrationCase` to ``CASES``:

1. ``start`` is revision N-1: Alembic builds the database exactly as the previous release left it
   (``upgrade(url, start)``), so the test never depends on today's ``schema.py``;
2. ``seed`` is SQL written against revision N-1 (frozen literals, like the migration itself:
   never generated from today's models), covering every table and the edge values the migration
   touches (NULLs, unicode, large payloads, rows it must rewrite);
3. the database is upgraded to head twice (the second run must be a no-op) and must be at
   :data:`HEAD_REVISION`;
4. ``check`` opens the store through the public API and asserts the seeded data reads back as
   users would expect after the upgrade (and that writing continues: sequences resume);
5. with ``rows_unchanged=True`` (the default) the rows of every table that existed at N-1 must
   read back byte-for-byte; set it to False for a migration that rewrites data, and assert the
   rewrite in ``check`` instead.

Cases: 0001 seeded right after it and upgraded to head (today through 0002, which rewrites the
event table: compact keys); 0002's own case adds the rows its rewrite must get right (library
ids that shrink to 16 bytes, ids starting with ``ff``, a session whose counter row is missing,
an empty session) and a downgrade back to 0001 that must give the original rows back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from agent_session_manager import Event, RunStatus, SessionStatus, SessionStore, open_store
from agent_session_manager.store.sql.migrations import (
    HEAD_REVISION,
    alembic_config,
    upgrade,
    upgrade_to_head,
)
from agent_session_manager.testing.postgres import postgres_url_or_skip, temporary_database

_TABLES = ("asm_sessions", "asm_runs", "asm_events", "asm_session_sequences")


@dataclass(frozen=True)
class MigrationCase:
    """One seeded upgrade: the database at ``start``, ``seed`` applied, upgraded, ``check``ed."""

    name: str
    start: str
    seed: tuple[str, ...]
    check: Callable[[SessionStore], Awaitable[None]]
    rows_unchanged: bool = True


# -- 0001: rows as release 0001 writes them ----------------------------------------------
_SESSION_0001 = (
    '{"id":"ses_seed0001","agent_id":"seed-agent","status":"active","context":{},'
    '"metadata":{"k":"v"},"tags":["seed"],"provider":null,"provider_handles":{},'
    '"workspace":null,"parent_session_id":null,"created_at":"2030-01-01T00:00:00Z",'
    '"updated_at":"2030-01-01T00:00:00Z"}'
)
_RUN_0001 = (
    '{"id":"run_seed0001","session_id":"ses_seed0001","status":"pending","input":{},'
    '"output":null,"error":null,"token_usage":{"input_tokens":0,"output_tokens":0,'
    '"cache_read_tokens":0,"cache_creation_tokens":0},"turn_count":0,"cost_usd":null,'
    '"provider":null,"model":null,"provider_session_id":null,"metadata":{},'
    '"created_at":"2030-01-01T00:00:00Z","started_at":null,"ended_at":null}'
)
_T0 = 1_893_456_000_000_000  # 2030-01-01T00:00:00Z in microseconds since the epoch
SEED_0001 = (
    "INSERT INTO asm_sessions (id, agent_id, status, created_at, updated_at, record) VALUES"
    f" ('ses_seed0001', 'seed-agent', 'active', {_T0}, {_T0}, '{_SESSION_0001}')",
    "INSERT INTO asm_session_sequences (session_id, last_sequence) VALUES ('ses_seed0001', 3)",
    "INSERT INTO asm_runs (id, session_id, status, created_at, record) VALUES"
    f" ('run_seed0001', 'ses_seed0001', 'pending', {_T0}, '{_RUN_0001}')",
    "INSERT INTO asm_events (session_id, sequence_number, id, type, run_id, timestamp, data,"
    " metadata, provider, schema_version) VALUES"
    f" ('ses_seed0001', 1, 'evt_seed1', 'session_created', NULL, {_T0}, '{{}}', NULL, NULL, 1),"
    f" ('ses_seed0001', 2, 'evt_seed2', 'seed.custom', 'run_seed0001', {_T0 + 1},"
    """ '{"text":"héllo 日本語 🚀","nested":{"a":[1,2.5,null]}}', '{"trace":"t"}', 'acme', 7),"""
    f" ('ses_seed0001', 3, 'evt_seed3', 'seed.custom', 'run_seed0001', {_T0 + 2},"
    """ '{"n":3}', NULL, NULL, 1)""",
)


async def check_0001(store: SessionStore) -> None:
    session = await store.get_session("ses_seed0001")
    assert (session.agent_id, session.status, session.tags) == (
        "seed-agent",
        SessionStatus.ACTIVE,
        ("seed",),
    )
    assert session.metadata == {"k": "v"}
    run = await store.get_run("run_seed0001")
    assert run.status is RunStatus.PENDING
    assert await store.list_runs("ses_seed0001") == [run]
    events = await store.get_events("ses_seed0001")
    assert [e.sequence_number for e in events] == [1, 2, 3]
    assert events[1].data == {"text": "héllo 日本語 🚀", "nested": {"a": [1, 2.5, None]}}
    assert (events[1].metadata, events[1].provider, events[1].schema_version) == (
        {"trace": "t"},
        "acme",
        7,
    )
    assert events[1].timestamp == datetime(2030, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert [e.id for e in await store.get_events("ses_seed0001", run_id="run_seed0001")] == [
        "evt_seed2",
        "evt_seed3",
    ]
    assert await store.latest_sequence("ses_seed0001") == 3
    more = await store.append_event(Event(type="seed.after", session_id="ses_seed0001"))
    assert more.sequence_number == 4
    again = await store.append_event(events[0])  # idempotency survives the upgrade
    assert again == events[0]


# -- 0002: compact event keys --------------------------------------------------------------
_LIB_EVENT = "evt_019d1c2a3b4c7d8e9f0a1b2c3d4e5f60"
_LIB_RUN = "run_019d1c2a3b4c7d8e9f0a1b2c3d4e5f61"
_FF_EVENT = "evt_ff9d1c2a3b4c7d8e9f0a1b2c3d4e5f62"
_UPPER_EVENT = "evt_019D1C2A3B4C7D8E9F0A1B2C3D4E5F63"
_BARE_SESSION = _SESSION_0001.replace("ses_seed0001", "ses_seed0002")
_EMPTY_SESSION = _SESSION_0001.replace("ses_seed0001", "ses_seed0003")
SEED_0002 = (
    *SEED_0001,
    # A session whose counter row is missing (other tooling wrote it): rebuilt from its log.
    "INSERT INTO asm_sessions (id, agent_id, status, created_at, updated_at, record) VALUES"
    f" ('ses_seed0002', 'seed-agent', 'active', {_T0 + 5}, {_T0 + 5}, '{_BARE_SESSION}')",
    "INSERT INTO asm_events (session_id, sequence_number, id, type, run_id, timestamp, data,"
    " metadata, provider, schema_version) VALUES"
    f" ('ses_seed0002', 1, '{_LIB_EVENT}', 'seed.lib', '{_LIB_RUN}', {_T0}, '{{}}', NULL, NULL, 1),"
    f" ('ses_seed0002', 2, '{_FF_EVENT}', 'seed.ff', NULL, {_T0}, '{{}}', NULL, NULL, 1),"
    f" ('ses_seed0002', 3, '{_UPPER_EVENT}', 'seed.upper', 'run_x', {_T0}, '{{}}', NULL, NULL, 1)",
    # A session with a counter and no events.
    "INSERT INTO asm_sessions (id, agent_id, status, created_at, updated_at, record) VALUES"
    f" ('ses_seed0003', 'seed-agent', 'active', {_T0 + 6}, {_T0 + 6}, '{_EMPTY_SESSION}')",
    "INSERT INTO asm_session_sequences (session_id, last_sequence) VALUES ('ses_seed0003', 0)",
)


async def check_0002(store: SessionStore) -> None:
    await check_0001(store)
    events = await store.get_events("ses_seed0002")
    assert [(e.sequence_number, e.id, e.run_id) for e in events] == [
        (1, _LIB_EVENT, _LIB_RUN),
        (2, _FF_EVENT, None),
        (3, _UPPER_EVENT, "run_x"),
    ]
    assert await store.latest_sequence("ses_seed0002") == 3
    assert [e.id for e in await store.get_events("ses_seed0002", run_id=_LIB_RUN)] == [_LIB_EVENT]
    assert (
        await store.append_event(Event(type="t", session_id="ses_seed0002"))
    ).sequence_number == 4
    assert await store.get_events("ses_seed0003") == []
    assert (
        await store.append_event(Event(type="t", session_id="ses_seed0003"))
    ).sequence_number == 1
    # Idempotency by id finds the rewritten rows, whatever form their id took.
    assert await store.append_event(events[0]) == events[0]
    assert await store.append_event(events[2]) == events[2]


def _encoded_ids(url: str) -> dict[str, bytes]:
    """The raw ``asm_events.id`` bytes of the 0002 seed's library-form events."""
    wanted = {"seed.lib", "seed.ff"}
    query = {"ids": "SELECT type, id FROM asm_events"}
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            found = [tuple(r) for r in conn.execute(query["ids"])]
        finally:
            conn.close()
    else:
        found = _fetch_pg(url, query)["ids"]
    return {str(t): bytes(raw) for t, raw in found if t in wanted}  # type: ignore[arg-type]


CASES = [
    MigrationCase(
        "0001 seeded right after it, upgraded to head",
        "0001",
        SEED_0001,
        check_0001,
        rows_unchanged=HEAD_REVISION == "0001",
    ),
    MigrationCase(
        "0002 compact event keys from 0001", "0001", SEED_0002, check_0002, rows_unchanged=False
    ),
]


# -- backends ------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to a database with nothing in it (no schema, no revision)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    with temporary_database(postgres_url_or_skip(), prefix="asm_pg_migrate") as url:
        yield url


def execute(url: str, statements: tuple[str, ...]) -> None:
    """Run SQL on the database at ``url`` in one transaction."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            with conn:
                for sql in statements:
                    conn.execute(sql)
        finally:
            conn.close()
        return
    _run_pg(url, statements)


def rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every store table, in a stable order."""
    queries = {t: f"SELECT * FROM {t} ORDER BY 1, 2" for t in _TABLES}
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            return {t: [tuple(r) for r in conn.execute(sql)] for t, sql in queries.items()}
        finally:
            conn.close()
    return _fetch_pg(url, queries)


def downgrade(url: str, target: str) -> None:
    """Alembic downgrade (online on SQLite; rendered SQL run by asyncpg on PostgreSQL)."""
    from alembic import command

    if url.startswith("sqlite:///"):
        from sqlalchemy import create_engine

        engine = create_engine(url)
        try:
            with engine.begin() as connection:
                command.downgrade(alembic_config(connection=connection), target)
        finally:
            engine.dispose()
        return
    import io

    buffer = io.StringIO()
    config = alembic_config("postgresql://")
    config.output_buffer = buffer
    config.attributes["transactional_ddl"] = False
    command.downgrade(config, f"{HEAD_REVISION}:{target}", sql=True)
    _run_pg(url, (buffer.getvalue(),))


def revision(url: str) -> list[str]:
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            return [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
        finally:
            conn.close()
    found = _fetch_pg(url, {"v": "SELECT version_num FROM alembic_version"})["v"]
    return [str(r[0]) for r in found]


def _run_pg(url: str, statements: tuple[str, ...]) -> None:
    import asyncio

    async def main() -> None:
        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                for sql in statements:
                    await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(main())


def _fetch_pg(url: str, queries: dict[str, str]) -> dict[str, list[tuple[object, ...]]]:
    import asyncio

    async def main() -> dict[str, list[tuple[object, ...]]]:
        conn = await asyncpg.connect(url)
        try:
            return {t: [tuple(r) for r in await conn.fetch(sql)] for t, sql in queries.items()}
        finally:
            await conn.close()

    return asyncio.run(main())


# -- the tests -----------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_seeded_data_survives_the_upgrade_to_head(blank_url: str, case: MigrationCase) -> None:
    import asyncio

    upgrade(blank_url, case.start)
    assert revision(blank_url) == [case.start]
    execute(blank_url, case.seed)
    before = rows(blank_url)
    upgrade_to_head(blank_url)
    upgrade_to_head(blank_url)  # at head: a no-op
    assert revision(blank_url) == [HEAD_REVISION]
    if case.rows_unchanged:
        assert rows(blank_url) == before

    async def check() -> None:
        async with await open_store(blank_url) as store:
            await case.check(store)

    asyncio.run(check())


def test_0002_stores_library_ids_in_16_bytes_and_downgrades_to_the_same_rows(
    blank_url: str,
) -> None:
    from agent_session_manager.store._idcodec import EVENT_ID_PREFIX, encode_id

    upgrade(blank_url, "0001")
    execute(blank_url, SEED_0002)
    before = rows(blank_url)
    upgrade(blank_url, "0002")
    encoded = _encoded_ids(blank_url)
    assert encoded["seed.lib"] == bytes.fromhex(_LIB_EVENT[4:])  # 16 bytes
    assert encoded["seed.ff"] == b"\xff" + _FF_EVENT.encode()
    # The live codec agrees with the migration's frozen copy (and with PostgreSQL's SQL).
    assert encoded == {
        "seed.lib": encode_id(_LIB_EVENT, EVENT_ID_PREFIX),
        "seed.ff": encode_id(_FF_EVENT, EVENT_ID_PREFIX),
    }
    downgrade(blank_url, "0001")
    assert revision(blank_url) == ["0001"]
    after = rows(blank_url)
    # The missing counter of ses_seed0002 was rebuilt on the way up and stays.
    before["asm_session_sequences"].append(("ses_seed0002", 3))
    assert {t: sorted(map(repr, r)) for t, r in after.items()} == {
        t: sorted(map(repr, r)) for t, r in before.items()
    }


def test_upgrade_refuses_a_newer_revision_and_changes_nothing(blank_url: str) -> None:
    from agent_session_manager.core.errors import StorageError

    upgrade(blank_url, "0001")
    execute(blank_url, SEED_0001)
    execute(blank_url, ("UPDATE alembic_version SET version_num = '9999_newer'",))
    before = rows(blank_url)
    with pytest.raises(StorageError) as info:
        upgrade_to_head(blank_url)
    assert info.value.code == "schema_too_new"
    assert revision(blank_url) == ["9999_newer"]
    assert rows(blank_url) == before
