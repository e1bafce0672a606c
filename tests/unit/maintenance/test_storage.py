"""``storage_stats``: a store's own report, and the count through the protocol for a store that
has none."""

from __future__ import annotations

from agent_session_manager import InMemorySessionStore, StorageStats, storage_stats
from agent_session_manager.store.postgres import STORE_TABLES
from agent_session_manager.store.protocol import ReportsStorage
from agent_session_manager.store.sql.schema import metadata
from tests.support.maintenance_data import add_session


class SilentStore(InMemorySessionStore):
    """A third-party store that does not report storage (hidden from ``isinstance``)."""

    storage_stats = None  # type: ignore[assignment]


async def test_a_store_without_a_report_is_counted_through_the_protocol() -> None:
    store = SilentStore()
    assert not isinstance(store, ReportsStorage)
    for runs in (0, 1, 3):
        await add_session(store, runs=runs, streamed=300)  # pages of events, not one read
    counted = await storage_stats(store)
    assert counted == StorageStats("SilentStore", sessions=3, runs=4, events=3 + 4 * 306)
    assert counted.stored_bytes is None
    assert counted.bytes_per_event is None
    assert await InMemorySessionStore.storage_stats(store) == StorageStats(
        "memory", 3, 4, 3 + 4 * 306
    )


async def test_a_store_that_reports_answers_itself() -> None:
    store = InMemorySessionStore()
    await add_session(store, runs=2)
    assert await storage_stats(store) == StorageStats("memory", 1, 2, 1 + 2 * 8)


def test_bytes_per_event_and_the_dict() -> None:
    stats = StorageStats("sqlite", sessions=2, runs=3, events=4, stored_bytes=1000)
    assert stats.bytes_per_event == 250
    assert stats.to_dict() == {
        "backend": "sqlite",
        "sessions": 2,
        "runs": 3,
        "events": 4,
        "stored_bytes": 1000,
        "bytes_per_event": 250,
    }
    assert StorageStats("sqlite", 1, 0, 0, stored_bytes=4096).bytes_per_event is None
    assert StorageStats("memory", 1, 0, 5).bytes_per_event is None


def test_postgres_sizes_every_table_of_the_schema() -> None:
    assert set(STORE_TABLES) == {*metadata.tables, "alembic_version"}
