"""Maintenance against real SQLite files: a session exported from one SQLite store imports
into a fresh SQLite file and into the in-memory store with every record identical, and
retention deletes what its dry run reported."""

from __future__ import annotations

from pathlib import Path

from agent_session_manager import (
    Event,
    InMemorySessionStore,
    RetentionPolicy,
    SessionStore,
    SQLiteSessionStore,
    apply_retention,
    import_session,
    plan_retention,
    search_sessions,
    usage_summary,
)
from agent_session_manager.maintenance import export_session_text
from tests.support.maintenance_data import T0, add_session, sqlite_pages


async def snapshot(store: SessionStore, session_id: str) -> tuple[object, ...]:
    session = await store.get_session(session_id)
    runs = await store.list_runs(session_id)
    events = await store.get_events(session_id)
    return (
        session.to_dict(),
        [run.to_dict() for run in runs],
        [event.to_dict() for event in events],
        await store.latest_sequence(session_id),
    )


async def test_export_from_sqlite_imports_identically_into_sqlite_and_memory(
    tmp_path: Path,
) -> None:
    async with await SQLiteSessionStore.open(tmp_path / "source.db") as source:
        session = await add_session(source, runs=3, metadata={"ü": "✓", "n": [1, 2.5, None]})
        big = "x" * 200_000 + "é"
        await source.append_event(
            Event(
                type="message_received",
                session_id=session.id,
                data={"role": "assistant", "content": big},
            )
        )
        other = await add_session(source, runs=1)
        text = await export_session_text(source, session.id)
        expected = await snapshot(source, session.id)
        expected_events = await source.get_events(session.id)

    async with await SQLiteSessionStore.open(tmp_path / "target.db") as target:
        result = await import_session(target, text)
        assert result.events == len(expected_events)
        assert await snapshot(target, session.id) == expected
        assert await target.get_events(session.id) == expected_events
        # Appending after the import continues the sequence.
        stored = await target.append_event(Event(type="acme.after", session_id=session.id))
        assert stored.sequence_number == len(expected_events) + 1
        assert [s.id for s in await target.list_sessions()] == [session.id]
        assert other.id != session.id

    async with await SQLiteSessionStore.open(tmp_path / "target.db") as reopened:
        assert (await snapshot(reopened, session.id))[:2] == expected[:2]

    memory = InMemorySessionStore()
    await import_session(memory, text)
    assert await snapshot(memory, session.id) == expected
    assert await memory.get_events(session.id) == expected_events

    # And back: memory -> a third SQLite file, still identical.
    back = await export_session_text(memory, session.id)
    async with await SQLiteSessionStore.open(tmp_path / "third.db") as third:
        await import_session(third, back)
        assert await snapshot(third, session.id) == expected


async def test_retention_on_sqlite_applies_its_dry_run(tmp_path: Path) -> None:
    async with await SQLiteSessionStore.open(tmp_path / "asm.db") as store:
        old = [await add_session(store, age_days=age, runs=2) for age in (40, 50)]
        young = await add_session(store, age_days=5, runs=1)
        policy = RetentionPolicy(ttl_days=30)
        planned = await plan_retention(store, policy, now=T0)
        assert {s.session_id for s in planned.sessions} == {s.id for s in old}
        assert planned.totals()["events"] == 2 * (1 + 2 * 8)
        applied = await apply_retention(store, policy, now=T0)
        assert applied.sessions == planned.sessions
        remaining = await search_sessions(store)
        assert [s.id for s in remaining.sessions] == [young.id]
        for session in old:
            assert await store.get_events(session.id) == []
            assert await store.list_runs(session.id) == []
        usage = await usage_summary(store, by="agent")
        assert usage.total.runs == 1


async def test_export_from_sqlite_imports_identically_into_postgresql(tmp_path: Path) -> None:
    from agent_session_manager.testing.postgres import postgres_url_or_skip, temporary_database

    server = postgres_url_or_skip()  # skips (or fails under CI=true) without a server
    from agent_session_manager.store.postgres import PostgresSessionStore
    from agent_session_manager.store.sql.migrations import upgrade_to_head

    async with await SQLiteSessionStore.open(tmp_path / "source.db") as source:
        session = await add_session(source, runs=3, metadata={"ü": "✓"})
        text = await export_session_text(source, session.id)
        expected = await snapshot(source, session.id)
        expected_events = await source.get_events(session.id)

    with temporary_database(server, prefix="asm_maint_test") as url:
        upgrade_to_head(url)
        async with await PostgresSessionStore.open(url) as target:
            await import_session(target, text)
            assert await snapshot(target, session.id) == expected
            assert await target.get_events(session.id) == expected_events
            # ... and back out of PostgreSQL into the in-memory store, still identical.
            memory = InMemorySessionStore()
            await import_session(memory, await export_session_text(target, session.id))
            assert await memory.get_events(session.id) == expected_events


async def test_retention_and_search_on_postgresql() -> None:
    from agent_session_manager.testing.postgres import postgres_url_or_skip, temporary_database

    server = postgres_url_or_skip()  # skips (or fails under CI=true) without a server
    from agent_session_manager.store.postgres import PostgresSessionStore
    from agent_session_manager.store.sql.migrations import upgrade_to_head

    with temporary_database(server, prefix="asm_maint_test") as url:
        upgrade_to_head(url)
        async with await PostgresSessionStore.open(url) as store:
            old = [await add_session(store, age_days=age, runs=1) for age in (40, 50)]
            young = await add_session(store, age_days=5, runs=2, agent="reviewer")
            policy = RetentionPolicy(ttl_days=30)
            planned = await plan_retention(store, policy, now=T0)
            assert {s.session_id for s in planned.sessions} == {s.id for s in old}
            applied = await apply_retention(store, policy, now=T0)
            assert applied.sessions == planned.sessions
            page = await search_sessions(store, agent_id="reviewer")
            assert [s.id for s in page.sessions] == [young.id]
            usage = await usage_summary(store, by="provider")
            assert usage.total.runs == 2
            assert await store.get_events(old[0].id) == []


async def _prune_runs_and_events(store: SessionStore) -> None:
    """keep_last_runs and max_events_per_session delete exactly what the dry run listed."""
    session = await add_session(store, runs=4, streamed=3)  # 1 + 4 * 9 = 37 events
    runs = await store.list_runs(session.id)
    before = {e.id: e for e in await store.get_events(session.id)}
    latest = await store.latest_sequence(session.id)
    policy = RetentionPolicy(keep_last_runs=2, max_events_per_session=12)
    planned = await plan_retention(store, policy, now=T0)
    assert [r.run_id for r in planned.runs] == [runs[0].id, runs[1].id]
    applied = await apply_retention(store, policy, now=T0)
    assert applied.not_applied == {}
    assert (applied.runs, applied.events) == (planned.runs, planned.events)
    (pruning,) = planned.events
    doomed_runs = {runs[0].id, runs[1].id}
    expected = [
        e for e in before.values() if e.run_id not in doomed_runs and e.id not in pruning.event_ids
    ]
    left = await store.get_events(session.id)
    assert left == expected  # same events, same sequence numbers
    assert len(left) == 12
    assert [r.id for r in await store.list_runs(session.id)] == [runs[2].id, runs[3].id]
    assert await store.latest_sequence(session.id) == latest
    assert (await plan_retention(store, policy, now=T0)).is_empty
    # The log goes on numbering after the last number ever assigned.
    added = await store.append_event(Event(type="acme.note", session_id=session.id, data={}))
    assert added.sequence_number == latest + 1


async def test_keep_last_runs_and_max_events_on_memory_and_sqlite(tmp_path: Path) -> None:
    await _prune_runs_and_events(InMemorySessionStore())
    async with await SQLiteSessionStore.open(tmp_path / "asm.db") as store:
        await _prune_runs_and_events(store)


async def test_keep_last_runs_and_max_events_on_postgresql() -> None:
    from agent_session_manager.testing.postgres import postgres_url_or_skip, temporary_database

    server = postgres_url_or_skip()  # skips (or fails under CI=true) without a server
    from agent_session_manager.store.postgres import PostgresSessionStore
    from agent_session_manager.store.sql.migrations import upgrade_to_head

    with temporary_database(server, prefix="asm_maint_test") as url:
        upgrade_to_head(url)
        async with await PostgresSessionStore.open(url) as store:
            await _prune_runs_and_events(store)


async def test_storage_stats_of_a_sqlite_file(tmp_path: Path) -> None:
    from agent_session_manager.maintenance import storage_stats

    path = tmp_path / "stats.db"
    async with await SQLiteSessionStore.open(path) as store:
        sessions = [await add_session(store, runs=2, streamed=200) for _ in range(5)]
        full = await storage_stats(store)
        assert (full.backend, full.sessions, full.runs, full.events) == ("sqlite", 5, 10, 5 * 413)
        for session in sessions[:4]:
            await store.delete_session(session.id)
        left = await storage_stats(store)
        assert (left.sessions, left.runs, left.events) == (1, 2, 413)
    in_use, free = sqlite_pages(path)  # read back from the file by plain sqlite3
    assert free > 0  # the deleted sessions' pages stay in the file, free
    assert left.stored_bytes == in_use
    assert full.stored_bytes is not None
    assert left.stored_bytes < full.stored_bytes


async def test_storage_stats_of_a_postgresql_database() -> None:
    from agent_session_manager.testing.postgres import postgres_url_or_skip, temporary_database

    server = postgres_url_or_skip()  # skips (or fails under CI=true) without a server
    import asyncpg

    from agent_session_manager.maintenance import storage_stats
    from agent_session_manager.store.postgres import PostgresSessionStore
    from agent_session_manager.store.sql.migrations import upgrade_to_head

    with temporary_database(server, prefix="asm_maint_test") as url:
        upgrade_to_head(url)
        async with await PostgresSessionStore.open(url) as store:
            empty = await storage_stats(store)
            for _ in range(3):
                await add_session(store, runs=2, streamed=200)
            full = await storage_stats(store)
        assert (full.backend, full.sessions, full.runs, full.events) == (
            "postgresql",
            3,
            6,
            3 * 413,
        )
        conn = await asyncpg.connect(url)
        try:
            by_table = await conn.fetchval(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind = 'r'"
            )
        finally:
            await conn.close()
        assert full.stored_bytes == by_table  # every table of the store, indexes and TOAST
        assert empty.stored_bytes is not None
        assert full.stored_bytes > empty.stored_bytes
