"""Test data for the maintenance tests: sessions with runs and events written through the
``SessionStore`` protocol, with fixed timestamps, a store double that cannot prune, and a SQLite
file's pages as plain ``sqlite3`` reads them."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent_session_manager import (
    Event,
    InMemorySessionStore,
    Run,
    RunStatus,
    Session,
    SessionStatus,
    SessionStore,
    TokenUsage,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)


async def add_session(
    store: SessionStore,
    *,
    agent: str = "coder",
    status: SessionStatus = SessionStatus.COMPLETED,
    tags: Sequence[str] = (),
    age_days: float = 0,
    now: datetime = T0,
    runs: int = 1,
    streamed: int = 2,
    provider: str | None = "claude",
    usage: TokenUsage | None = None,
    cost: float | None = 0.01,
    metadata: dict[str, Any] | None = None,
) -> Session:
    """A session updated ``age_days`` before ``now``; each run has: run_started, message_sent,
    ``streamed`` message_streamed, token_usage_updated, message_received, run_completed."""
    when = now - timedelta(days=age_days)
    session = Session(
        agent_id=agent,
        status=status,
        tags=tuple(tags),
        metadata=metadata or {},
        provider=provider,
        created_at=when,
        updated_at=when,
    )
    await store.flush(
        session=session,
        events=[
            Event(
                type="session_created",
                session_id=session.id,
                data={"agent_id": agent},
                timestamp=when,
            ),
        ],
    )
    for index in range(runs):
        at = when + timedelta(seconds=index)
        run = Run(
            session_id=session.id,
            status=RunStatus.COMPLETED,
            input={"prompt": f"question {index} ✓"},
            output={"content": "answer"},
            token_usage=usage or TokenUsage(input_tokens=100, output_tokens=10),
            cost_usd=cost,
            provider=provider,
            model="m-1",
            created_at=at,
            started_at=at,
            ended_at=at + timedelta(milliseconds=500),
            turn_count=1,
        )
        events = [
            Event(type="run_started", session_id=session.id, run_id=run.id, timestamp=at),
            Event(
                type="message_sent",
                session_id=session.id,
                run_id=run.id,
                timestamp=at,
                data={"role": "user", "content": f"question {index} ✓"},
            ),
            *(
                Event(
                    type="message_streamed",
                    session_id=session.id,
                    run_id=run.id,
                    timestamp=at,
                    data={"delta": f"chunk {n}"},
                )
                for n in range(streamed)
            ),
            Event(
                type="token_usage_updated",
                session_id=session.id,
                run_id=run.id,
                timestamp=at,
                data={"input_tokens": 100, "output_tokens": 10},
            ),
            Event(
                type="message_received",
                session_id=session.id,
                run_id=run.id,
                timestamp=at,
                data={"role": "assistant", "content": "answer"},
                metadata={"k": [1, 2, {"x": None}]},
            ),
            Event(
                type="acme.custom-note",
                session_id=session.id,
                run_id=run.id,
                timestamp=at,
                data={"unknown": {"nested": ["é", 1.5, True]}},
            ),
            Event(
                type="run_completed",
                session_id=session.id,
                run_id=run.id,
                timestamp=at,
                data={"stop_reason": "end_turn"},
            ),
        ]
        await store.append_events(events)
        await store.save_run(run)  # after its events: an ended run's log is closed
    return session


class UnprunableStore(InMemorySessionStore):
    """A store without ``delete_runs``/``delete_events`` (a third-party store written before
    they joined the protocol): setting a protocol method to None hides it from ``isinstance``."""

    delete_runs = None  # type: ignore[assignment]
    delete_events = None  # type: ignore[assignment]


def sqlite_pages(path: Path) -> tuple[int, int]:
    """(bytes of the pages in use, free pages) of the SQLite file at ``path``."""
    conn = sqlite3.connect(path)
    try:
        pages, free, size = (
            conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_count", "freelist_count", "page_size")
        )
    finally:
        conn.close()
    return (pages - free) * size, free
