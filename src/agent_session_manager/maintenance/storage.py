"""Storage statistics: how many sessions, runs and events a store holds, and the bytes they take.

A store that implements :class:`~agent_session_manager.store.protocol.ReportsStorage` (the
in-memory, SQLite and PostgreSQL stores, and a ``CompositeStore`` around one) answers itself,
in one query. Any other ``SessionStore`` is counted through the protocol: every session, every
run and every event is read once, and there is no byte figure.
"""

from __future__ import annotations

from agent_session_manager.maintenance.query import iter_events, iter_sessions
from agent_session_manager.store.protocol import ReportsStorage, SessionStore, StorageStats


async def storage_stats(store: SessionStore) -> StorageStats:
    """Sessions, runs and events in ``store``, with the bytes they occupy where it can tell."""
    if isinstance(store, ReportsStorage):
        return await store.storage_stats()
    sessions = runs = events = 0
    async for session in iter_sessions(store):
        sessions += 1
        runs += len(await store.list_runs(session.id))
        async for _ in iter_events(store, session.id):
            events += 1
    return StorageStats(type(store).__name__, sessions, runs, events)
