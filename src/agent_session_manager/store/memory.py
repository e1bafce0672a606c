"""In-memory ``SessionStore``: the whole contract, no durability.

For tests, benchmarks and short-lived scripts. All state lives in dicts and lists owned by one
event loop; appends are atomic because they never await between checking and writing. Events are
validated and JSON-checked exactly as the SQL stores do, so code that passes here passes there.
A session's log is a list in sequence order with a separate counter: until something is deleted
from it, entry ``n - 1`` has number ``n`` and a read after a cursor is a slice; once it has gaps,
the bounds are found by bisection.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Sequence
from datetime import datetime
from typing import Self

from agent_session_manager.core.errors import RunNotFound, SessionNotFound, ValidationError
from agent_session_manager.core.events import Event
from agent_session_manager.core.lifecycle import RunStatus, SessionStatus
from agent_session_manager.core.models import Run, Session
from agent_session_manager.store._common import (
    check_aware,
    check_cursor,
    check_event,
    check_id,
    check_ids,
    check_limit,
    check_run,
    check_run_from,
    check_session,
    check_timeout,
    check_types,
    encode_event_payload,
    run_ended,
    run_state_changed,
)
from agent_session_manager.store._notify import SessionNotifier
from agent_session_manager.store.protocol import StorageStats

__all__ = ["InMemorySessionStore"]


class InMemorySessionStore:
    """A ``SessionStore`` kept in process memory."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._runs: dict[str, Run] = {}
        self._runs_by_session: dict[str, list[str]] = {}
        # Each session's events in sequence order; _last holds the last number assigned.
        self._events: dict[str, list[Event]] = {}
        self._last: dict[str, int] = {}
        self._by_id: dict[str, Event] = {}
        self._notifier = SessionNotifier()
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        self._notifier.wake_all()

    # -- sessions ---------------------------------------------------------------------------
    async def save_session(self, session: Session) -> None:
        self._put_session(check_session(session))

    def _put_session(self, session: Session) -> None:
        self._sessions[session.id] = session
        self._events.setdefault(session.id, [])
        self._last.setdefault(session.id, 0)
        self._runs_by_session.setdefault(session.id, [])

    async def get_session(self, session_id: str) -> Session:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise SessionNotFound(f"session {session_id} not found") from None

    async def list_sessions(
        self,
        *,
        status: SessionStatus | None = None,
        agent_id: str | None = None,
        tags: Sequence[str] = (),
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> list[Session]:
        check_limit(limit)
        _check_bounds(created_after=created_after, created_before=created_before)
        wanted_tags = set(tags)
        found: list[Session] = []
        # Ids are UUIDv7, monotonic per process: id order is creation order.
        for session in sorted(self._sessions.values(), key=_by_id, reverse=True):
            if cursor is not None and session.id >= cursor:
                continue
            if status is not None and session.status != status:
                continue
            if agent_id is not None and session.agent_id != agent_id:
                continue
            if wanted_tags and not wanted_tags.issubset(session.tags):
                continue
            if created_after is not None and session.created_at < created_after:
                continue
            if created_before is not None and session.created_at >= created_before:
                continue
            found.append(session)
            if len(found) == limit:
                break
        return found

    async def delete_session(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
        for run_id in self._runs_by_session.pop(session_id, []):
            self._runs.pop(run_id, None)
        self._last.pop(session_id, None)
        for event in self._events.pop(session_id, []):
            self._by_id.pop(event.id, None)

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        ids = {run_id for run_id in check_ids(run_ids, "run_ids") if run_id in self._runs}
        for run_id in ids:
            run = self._runs.pop(run_id)
            self._runs_by_session[run.session_id].remove(run_id)
        if ids:
            for session_id, log in self._events.items():
                self._drop(session_id, log, [e for e in log if e.run_id in ids])
        return len(ids)

    async def delete_events(self, session_id: str, event_ids: Sequence[str]) -> int:
        session_id = check_id(session_id, "session_id")
        ids = check_ids(event_ids, "event_ids")
        doomed = [e for e in map(self._by_id.get, ids) if e and e.session_id == session_id]
        return self._drop(session_id, self._events.get(session_id, []), doomed)

    def _drop(self, session_id: str, log: list[Event], doomed: list[Event]) -> int:
        if doomed:
            gone = {e.id for e in doomed}
            log[:] = [e for e in log if e.id not in gone]
            for event_id in gone:
                del self._by_id[event_id]
        return len(doomed)

    # -- runs -------------------------------------------------------------------------------
    async def save_run(self, run: Run) -> None:
        self._check_run(run)
        self._put_run(run)

    def _check_run(self, run: object, new_session: str | None = None) -> None:
        checked = check_run(run)
        if checked.session_id not in self._sessions and checked.session_id != new_session:
            raise ValidationError(f"run {checked.id} names unknown session {checked.session_id}")

    def _put_run(self, run: Run) -> None:
        if run.id not in self._runs:
            self._runs_by_session[run.session_id].append(run.id)
        self._runs[run.id] = run

    async def get_run(self, run_id: str) -> Run:
        try:
            return self._runs[run_id]
        except KeyError:
            raise RunNotFound(f"run {run_id} not found") from None

    async def list_runs(
        self, session_id: str, *, status: RunStatus | None = None, limit: int | None = None
    ) -> list[Run]:
        check_limit(limit)
        runs = [self._runs[r] for r in self._runs_by_session.get(session_id, ())]
        if status is not None:
            runs = [r for r in runs if r.status == status]
        return runs[:limit] if limit is not None else runs

    # -- events -----------------------------------------------------------------------------
    async def append_event(self, event: Event) -> Event:
        stored = self._by_id.get(event.id) if isinstance(event, Event) else None
        if stored is not None:
            return stored
        self._check_new_event(event)
        stored = self._store(event)
        self._notifier.notify(stored.session_id)
        return stored

    async def append_events(self, events: Sequence[Event]) -> list[Event]:
        self._check_batch(events)
        return self._store_batch(events)

    def _check_batch(
        self, events: Sequence[Event], new_session: str | None = None, own_run: str | None = None
    ) -> None:
        for event in events:
            if not (isinstance(event, Event) and event.id in self._by_id):
                self._check_new_event(event, new_session, own_run)

    def _store_batch(self, events: Sequence[Event]) -> list[Event]:
        stored: list[Event] = []
        touched: set[str] = set()
        for event in events:
            existing = self._by_id.get(event.id)
            if existing is None:
                existing = self._store(event)
                touched.add(existing.session_id)
            stored.append(existing)
        for session_id in touched:
            self._notifier.notify(session_id)
        return stored

    def _check_new_event(
        self, event: object, new_session: str | None = None, own_run: str | None = None
    ) -> None:
        """``own_run``: the run a flush writes along with the event (its write decides)."""
        checked = check_event(event)
        if checked.session_id not in self._sessions and checked.session_id != new_session:
            raise ValidationError(
                f"cannot append event {checked.id}: unknown session {checked.session_id}"
            )
        if checked.run_id is not None and checked.run_id != own_run:
            run = self._runs.get(checked.run_id)
            if run is not None and run.status.is_terminal:
                raise run_ended(run.id, run.status)
        encode_event_payload(checked)

    def _store(self, event: Event) -> Event:
        number = self._last[event.session_id] + 1
        self._last[event.session_id] = number
        stored = event.with_sequence(number)
        self._events[event.session_id].append(stored)
        self._by_id[stored.id] = stored
        return stored

    async def get_events(
        self,
        session_id: str,
        *,
        after: int = 0,
        before: int | None = None,
        limit: int | None = None,
        run_id: str | None = None,
        types: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Event]:
        check_cursor(after, "after")
        check_cursor(before, "before")
        check_limit(limit)
        type_set = check_types(types)
        _check_bounds(since=since, until=until)
        log = self._events.get(session_id, [])
        if not log or log[-1].sequence_number == len(log):  # no gaps: number n is at n - 1
            start = after
            end = len(log) if before is None else max(0, min(len(log), before - 1))
        else:
            start = bisect.bisect_right(log, after, key=_number)
            end = len(log) if before is None else bisect.bisect_left(log, before, key=_number)
        window = log[start:end] if start < end else []
        if run_id is None and type_set is None and since is None and until is None:
            return window[:limit] if limit is not None else window
        found: list[Event] = []
        for event in window:
            if run_id is not None and event.run_id != run_id:
                continue
            if type_set is not None and event.type not in type_set:
                continue
            if since is not None and event.timestamp < since:
                continue
            if until is not None and event.timestamp >= until:
                continue
            found.append(event)
            if limit is not None and len(found) == limit:
                break
        return found

    async def latest_sequence(self, session_id: str) -> int:
        return self._last.get(session_id, 0)

    async def storage_stats(self) -> StorageStats:
        """Counts only: nothing is kept on disk, so there is no byte figure."""
        events = sum(len(log) for log in self._events.values())
        return StorageStats("memory", len(self._sessions), len(self._runs), events)

    async def wait_for_events(
        self,
        session_id: str,
        *,
        after: int,
        timeout: float,
        run_id: str | None = None,
        types: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        check_timeout(timeout)
        loop_time = _loop_time()
        deadline = loop_time + timeout
        while True:
            found = await self.get_events(
                session_id, after=after, run_id=run_id, types=types, limit=limit
            )
            remaining = deadline - _loop_time()
            if found or self._closed or remaining <= 0:
                return found
            future = self._notifier.register(session_id)
            if not await self._notifier.wait(session_id, future, remaining):
                return []

    async def flush(
        self,
        *,
        run: Run | None = None,
        session: Session | None = None,
        events: Sequence[Event] = (),
        run_from: RunStatus | None = None,
    ) -> list[Event]:
        # Validate everything first: a bad part means nothing is written.
        new_session = None
        if session is not None:
            new_session = check_session(session).id
        if run is not None:
            self._check_run(run, new_session)
        expected = check_run_from(run, run_from)
        if run is not None and expected is not None:
            stored_run = self._runs.get(run.id)
            if stored_run is None or stored_run.status is not expected:
                raise run_state_changed(run.id, expected, stored_run.status if stored_run else None)
        self._check_batch(events, new_session, run.id if run is not None else None)
        if session is not None:
            self._put_session(session)
        if run is not None:
            self._put_run(run)
        return self._store_batch(events)


def _check_bounds(**bounds: datetime | None) -> None:
    for name, value in bounds.items():
        if value is not None:
            check_aware(value, name)


def _number(event: Event) -> int:
    return event.sequence_number or 0


def _by_id(session: Session) -> str:
    return session.id


def _loop_time() -> float:
    return asyncio.get_running_loop().time()
