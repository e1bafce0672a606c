"""Test data for the maintenance tests: sessions with runs and events written through the
``SessionStore`` protocol, with fixed timestamps, and a store double that can prune."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from agent_session_manager.core.errors import RunNotFound
from agent_session_manager.core.events import Event
from agent_session_manager.core.lifecycle import RunStatus, SessionStatus
from agent_session_manager.core.models import Run, Session
from agent_session_manager.core.usage import TokenUsage
from agent_session_manager.store.memory import InMemorySessionStore
from agent_session_manager.store.protocol import SessionStore

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
        await store.save_run(run)
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
    return session


class PrunableMemoryStore(InMemorySessionStore):
    """An in-memory store that also implements ``PrunableStore`` (tombstones: the base store
    indexes its log by position, so deleted entries are hidden rather than removed)."""

    def __init__(self) -> None:
        super().__init__()
        self.deleted_runs: set[str] = set()
        self.deleted_events: set[str] = set()

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        count = 0
        for run_id in run_ids:
            try:
                run = await self.get_run(run_id)
            except RunNotFound:
                continue
            for event in await super().get_events(run.session_id, run_id=run_id):
                self.deleted_events.add(event.id)
            self.deleted_runs.add(run_id)
            count += 1
        return count

    async def delete_events(self, session_id: str, event_ids: Sequence[str]) -> int:
        before = len(self.deleted_events)
        self.deleted_events.update(event_ids)
        return len(self.deleted_events) - before

    async def get_run(self, run_id: str) -> Run:
        if run_id in getattr(self, "deleted_runs", ()):
            raise RunNotFound(f"run {run_id} not found")
        return await super().get_run(run_id)

    async def list_runs(
        self, session_id: str, *, status: RunStatus | None = None, limit: int | None = None
    ) -> list[Run]:
        runs = await super().list_runs(session_id, status=status)
        runs = [r for r in runs if r.id not in self.deleted_runs]
        return runs[:limit] if limit is not None else runs

    async def get_events(self, session_id: str, **kwargs: Any) -> list[Event]:  # type: ignore[override]
        limit = kwargs.pop("limit", None)
        found = [
            e
            for e in await super().get_events(session_id, **kwargs)
            if e.id not in self.deleted_events
        ]
        return found[:limit] if limit is not None else found
