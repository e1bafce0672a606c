"""Usage and cost summaries: token usage and ``cost_usd`` of runs, grouped by session, agent or
provider.

Sums the runs' own records (``run.token_usage``, ``run.cost_usd``, ``run.provider``), never the
``token_usage_updated`` events, so nothing is counted twice. Runs without a recorded cost are
counted in ``runs_without_cost`` instead of being priced here. Built on the ``SessionStore``
protocol only; it knows no backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from agent_session_manager.core.errors import ValidationError
from agent_session_manager.core.lifecycle import SessionStatus
from agent_session_manager.core.models import Run, Session
from agent_session_manager.core.usage import TokenUsage
from agent_session_manager.maintenance.query import iter_sessions
from agent_session_manager.store.protocol import SessionStore

__all__ = ["UNKNOWN_PROVIDER", "UsageGrouping", "UsageReport", "UsageRow", "usage_summary"]

#: The group name of runs that record no provider.
UNKNOWN_PROVIDER = "unknown"


class UsageGrouping(StrEnum):
    SESSION = "session"
    AGENT = "agent"
    PROVIDER = "provider"


@dataclass
class UsageRow:
    """The usage of one group (``key`` is a session id, agent id or provider name)."""

    key: str
    sessions: int = 0
    runs: int = 0
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: float = 0.0
    runs_without_cost: int = 0
    _session_ids: set[str] = field(default_factory=set, repr=False, compare=False)

    def _count_session(self, session_id: str) -> None:
        if session_id not in self._session_ids:
            self._session_ids.add(session_id)
            self.sessions += 1

    def _add(self, session: Session, run: Run) -> None:
        self._count_session(session.id)
        self.runs += 1
        self.usage = self.usage + run.token_usage
        if run.cost_usd is None:
            self.runs_without_cost += 1
        else:
            self.cost_usd += run.cost_usd

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "sessions": self.sessions,
            "runs": self.runs,
            **self.usage.to_dict(),
            "cost_usd": round(self.cost_usd, 10),
            "runs_without_cost": self.runs_without_cost,
        }


@dataclass
class UsageReport:
    """Rows (most expensive first, then most tokens, then by key) and their total."""

    by: UsageGrouping
    rows: list[UsageRow]
    total: UsageRow

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": str(self.by),
            "rows": [row.to_dict() for row in self.rows],
            "total": self.total.to_dict(),
        }


async def usage_summary(
    store: SessionStore,
    *,
    by: UsageGrouping | str = UsageGrouping.SESSION,
    agent_id: str | None = None,
    status: SessionStatus | str | Sequence[SessionStatus | str] | None = None,
    tags: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    session_ids: Sequence[str] | None = None,
) -> UsageReport:
    """Sum runs per session, agent or provider.

    Sessions are chosen by ``agent_id``, ``status`` and ``tags`` (as in
    :func:`~agent_session_manager.maintenance.query.iter_sessions`) or by ``session_ids``;
    ``since`` (inclusive) and ``until`` (exclusive) select *runs* by their ``created_at``, so
    "the last 7 days" counts recent runs of old sessions too. Without a time window, sessions
    without runs appear in ``by="session"`` and ``by="agent"`` with zeros; with one, only
    sessions with runs in the window appear."""
    try:
        grouping = UsageGrouping(str(by).lower())
    except ValueError:
        raise ValidationError(
            f"usage can be grouped by session, agent or provider, not {by!r}"
        ) from None
    rows: dict[str, UsageRow] = {}
    total = UsageRow(key="total")
    for name, bound in (("since", since), ("until", until)):
        if bound is not None and (not isinstance(bound, datetime) or bound.utcoffset() is None):
            raise ValidationError(f"{name} must be a timezone-aware datetime, got {bound!r}")
    windowed = since is not None or until is not None
    async for session in _sessions(store, session_ids, agent_id, status, tags):
        runs = [
            run
            for run in await store.list_runs(session.id)
            if (since is None or run.created_at >= since)
            and (until is None or run.created_at < until)
        ]
        if windowed and not runs:
            continue
        if grouping is not UsageGrouping.PROVIDER:
            key = session.id if grouping is UsageGrouping.SESSION else session.agent_id
            rows.setdefault(key, UsageRow(key=key))._count_session(session.id)
        total._count_session(session.id)
        for run in runs:
            if grouping is UsageGrouping.SESSION:
                key = session.id
            elif grouping is UsageGrouping.AGENT:
                key = session.agent_id
            else:
                key = run.provider or UNKNOWN_PROVIDER
            rows.setdefault(key, UsageRow(key=key))._add(session, run)
            total._add(session, run)
    ordered = sorted(rows.values(), key=lambda r: (-r.cost_usd, -r.usage.total_tokens, r.key))
    return UsageReport(grouping, ordered, total)


async def _sessions(
    store: SessionStore,
    session_ids: Sequence[str] | None,
    agent_id: str | None,
    status: SessionStatus | str | Sequence[SessionStatus | str] | None,
    tags: Sequence[str],
) -> AsyncIterator[Session]:
    if session_ids is not None:
        for session_id in dict.fromkeys(session_ids):
            yield await store.get_session(session_id)
        return
    async for session in iter_sessions(store, agent_id=agent_id, status=status, tags=tags):
        yield session
