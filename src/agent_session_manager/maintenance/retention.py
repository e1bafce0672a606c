"""Retention: decide what old data to delete (a dry-run report), then delete exactly that.

A :class:`RetentionPolicy` combines three rules, all optional: ``ttl_days`` deletes *finished*
sessions (completed, failed, cancelled) not updated for that long, with their runs, events and
(through a :class:`~agent_session_manager.artifacts.CompositeStore`) artifacts;
``keep_last_runs`` deletes each session's older finished runs with their events;
``max_events_per_session`` prunes the oldest events beyond the limit, ``prune_first_types``
(streamed chunks, usage updates) before others, and never session lifecycle, ``run_started``,
run-terminal or ``error_occurred`` events (a session may stay over the limit). Sessions tagged
with an ``exempt_tags`` tag are never touched.

:func:`plan_retention` returns the :class:`RetentionReport` of what would go (counts and a JSON
bytes estimate); :func:`apply_retention` computes the same report and carries it out. Deleting
sessions needs only ``delete_session``. Deleting single runs or events needs ``delete_runs`` and
``delete_events``, which the ``SessionStore`` protocol declares and every shipped store has; for a
store written before they joined the protocol (so not a full ``SessionStore``), those parts are
reported in ``not_applied`` with the reason and nothing of them is deleted. It knows no backend.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agent_session_manager.artifacts.protocol import (
    SESSION_PREFIX,
    ArtifactStore,
    session_prefix,
)
from agent_session_manager.core.clock import format_timestamp, utcnow
from agent_session_manager.core.errors import SessionNotFound, ValidationError
from agent_session_manager.core.events import (
    SESSION_LIFECYCLE_EVENTS,
    TERMINAL_RUN_EVENTS,
    Event,
    EventType,
)
from agent_session_manager.core.models import Run, Session
from agent_session_manager.maintenance.query import iter_events, iter_sessions, json_size
from agent_session_manager.store.protocol import SessionStore

__all__ = [
    "PROTECTED_EVENT_TYPES",
    "PRUNE_FIRST_TYPES",
    "EventPruning",
    "RetentionPolicy",
    "RetentionReport",
    "RunDeletion",
    "SessionDeletion",
    "apply_retention",
    "clean_orphaned_artifacts",
    "plan_retention",
]

logger = logging.getLogger(__name__)

#: Event types never pruned by ``max_events_per_session``.
PROTECTED_EVENT_TYPES: frozenset[str] = frozenset(
    {
        *SESSION_LIFECYCLE_EVENTS,
        EventType.RUN_STARTED,
        EventType.ERROR_OCCURRED,
        *TERMINAL_RUN_EVENTS,
    }
)
#: Event types pruned before any other.
PRUNE_FIRST_TYPES: tuple[str, ...] = (EventType.MESSAGE_STREAMED, EventType.TOKEN_USAGE_UPDATED)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """What to keep. ``None`` switches a rule off; at least one rule must be on to prune."""

    ttl_days: float | None = None
    keep_last_runs: int | None = None
    max_events_per_session: int | None = None
    exempt_tags: tuple[str, ...] = ("pinned",)
    prune_first_types: tuple[str, ...] = PRUNE_FIRST_TYPES
    protected_types: frozenset[str] = PROTECTED_EVENT_TYPES

    def __post_init__(self) -> None:
        ttl = self.ttl_days
        if ttl is not None and (
            isinstance(ttl, bool)
            or not isinstance(ttl, int | float)
            or not math.isfinite(ttl)
            or ttl <= 0
        ):
            raise ValidationError(f"ttl_days must be a positive number, got {ttl!r}")
        for name, low in (("keep_last_runs", 0), ("max_events_per_session", 1)):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < low
            ):
                raise ValidationError(f"{name} must be an integer >= {low}, got {value!r}")
        if isinstance(self.exempt_tags, str):
            object.__setattr__(self, "exempt_tags", (self.exempt_tags,))

    @property
    def is_empty(self) -> bool:
        return (
            self.ttl_days is None
            and self.keep_last_runs is None
            and self.max_events_per_session is None
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ttl_days": self.ttl_days,
            "keep_last_runs": self.keep_last_runs,
            "max_events_per_session": self.max_events_per_session,
            "exempt_tags": list(self.exempt_tags),
        }


@dataclass(frozen=True, slots=True)
class SessionDeletion:
    """A session the TTL rule deletes, with everything that goes with it."""

    session_id: str
    agent_id: str
    status: str
    updated_at: datetime
    runs: int
    events: int
    artifacts: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "agent_id": self.agent_id,
            "status": self.status,
            "updated_at": format_timestamp(self.updated_at),
            "runs": self.runs,
            "events": self.events,
            "artifacts": self.artifacts,
            "bytes": self.bytes,
        }


@dataclass(frozen=True, slots=True)
class RunDeletion:
    """An older run ``keep_last_runs`` deletes, with its events."""

    session_id: str
    run_id: str
    events: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "run_id": self.run_id,
            "events": self.events,
            "bytes": self.bytes,
        }


@dataclass(frozen=True, slots=True)
class EventPruning:
    """The events ``max_events_per_session`` prunes from one session (oldest first)."""

    session_id: str
    event_ids: tuple[str, ...]
    bytes: int
    remaining: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "events": len(self.event_ids),
            "event_ids": list(self.event_ids),
            "bytes": self.bytes,
            "remaining": self.remaining,
        }


@dataclass
class RetentionReport:
    """What a policy deletes. ``dry_run`` reports say what *would* be deleted; applied reports
    say what was, except the parts named in ``not_applied`` (part -> reason)."""

    policy: RetentionPolicy
    now: datetime
    dry_run: bool
    sessions: list[SessionDeletion] = field(default_factory=list)
    runs: list[RunDeletion] = field(default_factory=list)
    events: list[EventPruning] = field(default_factory=list)
    orphaned_artifacts: list[str] = field(default_factory=list)
    not_applied: dict[str, str] = field(default_factory=dict)

    @property
    def sessions_deleted(self) -> int:
        return len(self.sessions)

    @property
    def runs_deleted(self) -> int:
        return sum(s.runs for s in self.sessions) + len(self.runs)

    @property
    def events_deleted(self) -> int:
        return (
            sum(s.events for s in self.sessions)
            + sum(r.events for r in self.runs)
            + sum(len(p.event_ids) for p in self.events)
        )

    @property
    def artifacts_deleted(self) -> int:
        return sum(s.artifacts for s in self.sessions) + len(self.orphaned_artifacts)

    @property
    def bytes_estimate(self) -> int:
        """JSON bytes of the records deleted (sessions, runs, events); artifacts excluded."""
        return (
            sum(s.bytes for s in self.sessions)
            + sum(r.bytes for r in self.runs)
            + sum(p.bytes for p in self.events)
        )

    @property
    def is_empty(self) -> bool:
        return not (self.sessions or self.runs or self.events or self.orphaned_artifacts)

    def totals(self) -> dict[str, int]:
        return {
            "sessions": self.sessions_deleted,
            "runs": self.runs_deleted,
            "events": self.events_deleted,
            "artifacts": self.artifacts_deleted,
            "bytes_estimate": self.bytes_estimate,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "now": format_timestamp(self.now),
            "policy": self.policy.to_dict(),
            "totals": self.totals(),
            "sessions": [s.to_dict() for s in self.sessions],
            "runs": [r.to_dict() for r in self.runs],
            "events": [p.to_dict() for p in self.events],
            "orphaned_artifacts": list(self.orphaned_artifacts),
            "not_applied": dict(self.not_applied),
        }


def _exempt(session: Session, policy: RetentionPolicy) -> bool:
    return any(tag in session.tags for tag in policy.exempt_tags)


def _record_size(record: Session | Run) -> int:
    return json_size(record.to_dict())


def _event_size(event: Event) -> int:
    return json_size(event.to_dict())


async def plan_retention(
    store: SessionStore,
    policy: RetentionPolicy,
    *,
    now: datetime | None = None,
    orphans: bool = True,
) -> RetentionReport:
    """The dry-run report: what ``policy`` would delete from ``store`` at ``now`` (default: the
    current time). ``orphans`` also lists artifacts under ``sessions/<id>/`` whose session no
    longer exists (when ``store`` holds artifacts). Reads only; writes nothing."""
    if not isinstance(policy, RetentionPolicy):
        raise ValidationError(f"expected a RetentionPolicy, got {type(policy).__name__}")
    now = utcnow() if now is None else now
    report = RetentionReport(policy=policy, now=now, dry_run=True)
    cutoff = None if policy.ttl_days is None else now - timedelta(days=policy.ttl_days)
    artifacts = store if isinstance(store, ArtifactStore) else None
    async for session in iter_sessions(store):
        if _exempt(session, policy):
            continue
        if cutoff is not None and session.status.is_terminal and session.updated_at < cutoff:
            report.sessions.append(await _plan_session(store, artifacts, session))
            continue
        await _plan_runs_and_events(store, policy, session, report)
    if orphans and artifacts is not None:
        report.orphaned_artifacts = await _orphaned_artifacts(store, artifacts)
    return report


async def _plan_session(
    store: SessionStore, artifacts: ArtifactStore | None, session: Session
) -> SessionDeletion:
    runs = await store.list_runs(session.id)
    size = _record_size(session) + sum(_record_size(run) for run in runs)
    events = 0
    async for event in iter_events(store, session.id):
        events += 1
        size += _event_size(event)
    artifact_count = len(await artifacts.list(session_prefix(session.id))) if artifacts else 0
    return SessionDeletion(
        session_id=session.id,
        agent_id=session.agent_id,
        status=session.status.value,
        updated_at=session.updated_at,
        runs=len(runs),
        events=events,
        artifacts=artifact_count,
        bytes=size,
    )


async def _plan_runs_and_events(
    store: SessionStore, policy: RetentionPolicy, session: Session, report: RetentionReport
) -> None:
    doomed_runs: list[Run] = []
    if policy.keep_last_runs is not None:
        runs = await store.list_runs(session.id)
        older = runs[: max(0, len(runs) - policy.keep_last_runs)]
        # A run still pending or running is never deleted, however old.
        doomed_runs = [run for run in older if run.status.is_terminal]
    limit = policy.max_events_per_session
    if not doomed_runs and (limit is None or await store.latest_sequence(session.id) <= limit):
        return  # nothing to delete: the log is not read at all
    doomed_ids = {run.id for run in doomed_runs}
    per_run: dict[str, list[Event]] = {run.id: [] for run in doomed_runs}
    kept: list[Event] = []
    async for event in iter_events(store, session.id):
        if event.run_id in doomed_ids:
            per_run[event.run_id].append(event)
        else:
            kept.append(event)
    for run in doomed_runs:
        report.runs.append(
            RunDeletion(
                session_id=session.id,
                run_id=run.id,
                events=len(per_run[run.id]),
                bytes=_record_size(run) + sum(_event_size(e) for e in per_run[run.id]),
            )
        )
    if limit is None or len(kept) <= limit:
        return
    live_runs = {run.id for run in await store.list_runs(session.id) if not run.status.is_terminal}
    excess = len(kept) - limit
    prunable = [
        e
        for e in kept
        if e.type not in policy.protected_types and (e.run_id is None or e.run_id not in live_runs)
    ]
    first = set(policy.prune_first_types)
    chosen = [e for e in prunable if e.type in first][:excess]
    if len(chosen) < excess:
        taken = {e.id for e in chosen}
        chosen += [e for e in prunable if e.id not in taken][: excess - len(chosen)]
    if chosen:
        chosen.sort(key=lambda e: e.sequence_number or 0)
        report.events.append(
            EventPruning(
                session_id=session.id,
                event_ids=tuple(e.id for e in chosen),
                bytes=sum(_event_size(e) for e in chosen),
                remaining=len(kept) - len(chosen),
            )
        )


async def _orphaned_artifacts(store: SessionStore, artifacts: ArtifactStore) -> list[str]:
    orphaned: list[str] = []
    known: dict[str, bool] = {}
    for key in await artifacts.list(SESSION_PREFIX):
        session_id = key[len(SESSION_PREFIX) :].partition("/")[0]
        if session_id not in known:
            try:
                await store.get_session(session_id)
                known[session_id] = True
            except SessionNotFound:
                known[session_id] = False
        if not known[session_id]:
            orphaned.append(key)
    return orphaned


async def apply_retention(
    store: SessionStore,
    policy: RetentionPolicy,
    *,
    now: datetime | None = None,
    orphans: bool = True,
) -> RetentionReport:
    """Delete what :func:`plan_retention` reports and return that report (``dry_run=False``).

    Sessions are deleted through ``store.delete_session`` (a composite store also deletes their
    artifacts). Run and event deletions need the protocol's ``delete_runs`` and
    ``delete_events``; a store without them has those parts listed under ``not_applied``, kept.
    """
    report = await plan_retention(store, policy, now=now, orphans=orphans)
    report.dry_run = False
    for doomed in report.sessions:
        await store.delete_session(doomed.session_id)
    if isinstance(store, ArtifactStore):
        for key in report.orphaned_artifacts:
            await store.delete(key)
    if report.runs or report.events:
        # The static type promises a full SessionStore; this checks it at run time.
        if not isinstance(store, SessionStore):
            reason = (
                f"{type(store).__name__} cannot delete single runs or events (it does not "
                "implement SessionStore.delete_runs/delete_events); nothing of this part was "
                "deleted"
            )
            if report.runs:
                report.not_applied["runs"] = reason
            if report.events:
                report.not_applied["events"] = reason
            logger.info("retention: %s", reason)
        else:
            if report.runs:
                await store.delete_runs([r.run_id for r in report.runs])
            for pruning in report.events:
                await store.delete_events(pruning.session_id, pruning.event_ids)
    return report


async def clean_orphaned_artifacts(store: SessionStore, *, dry_run: bool = False) -> list[str]:
    """Delete (or with ``dry_run`` only list) artifacts under ``sessions/<id>/`` whose session
    no longer exists; ``store`` must hold both sessions and artifacts (a ``CompositeStore``)."""
    if not isinstance(store, ArtifactStore):
        raise ValidationError(f"{type(store).__name__} holds no artifacts")
    orphaned = await _orphaned_artifacts(store, store)
    if not dry_run:
        for key in orphaned:
            await store.delete(key)
    return orphaned
