"""The ``SessionStore`` port: durable sessions, runs and a per-session event log.

Contract every backend honours (the conformance suite in ``agent_session_manager.testing``
checks it):

* ``append_event`` assigns the next per-session ``sequence_number`` atomically: 1, 2, 3, …
  gap-free and strictly increasing under any number of concurrent writers. Appending an event
  whose id is already stored writes nothing and returns the stored copy.
* Appending to an unknown session, data that cannot be encoded as JSON, or a negative/zero limit
  raise :class:`~agent_session_manager.core.errors.ValidationError` and write nothing.
* ``get_events`` returns events in sequence order; ``after``/``before`` are exclusive sequence
  bounds, ``since``/``until`` inclusive/exclusive timestamp bounds.
* ``wait_for_events`` returns as soon as an event matching the filters exists past ``after``,
  woken by the append itself (no polling loop inside one process), or ``[]`` on timeout.
* ``flush`` persists a session, a run and events in one transaction (a run's final state with
  its terminal event; a session's status change with its lifecycle event). With ``run_from`` it
  is a compare-and-set on the run's status: of two writers that read a run in one status and
  move it on (two executors claiming a pending run, two finalizers ending a running one),
  exactly one succeeds; the other writes nothing and gets ``ConcurrencyError``
  (``run_state_changed``).
* Once a run is terminal its log is closed: appending an event that carries the run's id raises
  ``ConcurrencyError`` (``run_ended``) and writes nothing, so no event follows a terminal event.
* ``delete_runs`` and ``delete_events`` (what retention uses) delete single runs with their
  events, or single events, in one transaction. The events that remain keep their sequence
  numbers (the log then has gaps), ``latest_sequence`` is unchanged and a deleted number is never
  assigned again, so cursors stay valid. Unknown ids are ignored; bad input raises
  ``ValidationError`` and deletes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, Self, runtime_checkable

from agent_session_manager.core.events import Event
from agent_session_manager.core.lifecycle import RunStatus, SessionStatus
from agent_session_manager.core.models import Run, Session

__all__ = ["COUNT_PAGE", "ReportsStorage", "SessionStore", "StorageStats", "storage_stats"]


@runtime_checkable
class SessionStore(Protocol):
    """Async persistence port for sessions, runs and events."""

    # -- sessions ---------------------------------------------------------------------------
    async def save_session(self, session: Session) -> None:
        """Insert or replace a session by id."""

    async def get_session(self, session_id: str) -> Session:
        """Return the session or raise ``SessionNotFound``."""

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
        """Newest first. ``tags``: sessions carrying all of them. ``cursor``: the id of the last
        session of the previous page (results continue after it)."""

    async def delete_session(self, session_id: str) -> None:
        """Delete a session with its runs and events. Deleting an unknown id is a no-op."""

    # -- runs -------------------------------------------------------------------------------
    async def save_run(self, run: Run) -> None:
        """Insert or replace a run by id; its session must exist (``ValidationError``)."""

    async def get_run(self, run_id: str) -> Run:
        """Return the run or raise ``RunNotFound``."""

    async def list_runs(
        self, session_id: str, *, status: RunStatus | None = None, limit: int | None = None
    ) -> list[Run]:
        """A session's runs, oldest first."""

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Delete these runs and every event carrying their ``run_id``; return runs deleted.
        Remaining events keep their numbers and no deleted number is assigned again."""

    # -- events -----------------------------------------------------------------------------
    async def append_event(self, event: Event) -> Event:
        """Append one event; return the stored copy with its ``sequence_number``."""

    async def append_events(self, events: Sequence[Event]) -> list[Event]:
        """Append several events in one transaction, numbered in input order."""

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
        """Events of a session in sequence order (an unknown session has none)."""

    async def latest_sequence(self, session_id: str) -> int:
        """The highest sequence number assigned in the session, 0 when none."""

    async def delete_events(self, session_id: str, event_ids: Sequence[str]) -> int:
        """Delete these events of the session (unknown ids are ignored); return how many went.
        ``latest_sequence`` is unchanged and the gap stays."""

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
        """Long-poll: the matching events past ``after``, as soon as there are any; ``[]`` after
        ``timeout`` seconds."""

    async def flush(
        self,
        *,
        run: Run | None = None,
        session: Session | None = None,
        events: Sequence[Event] = (),
        run_from: RunStatus | None = None,
    ) -> list[Event]:
        """Persist ``session`` (inserted or replaced), ``run`` and ``events`` in one transaction,
        in that order, so a new session and its first events can be written together. Return
        the stored events. Any invalid part raises ``ValidationError`` and nothing is written.

        ``run_from``: write only if the stored ``run`` still has this status (it must exist);
        otherwise raise ``ConcurrencyError`` with code ``run_state_changed`` and write nothing,
        events and session included."""

    # -- lifecycle --------------------------------------------------------------------------
    async def close(self) -> None:
        """Release connections and threads; waiting readers return ``[]``."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...


@dataclass(frozen=True, slots=True)
class StorageStats:
    """What a store holds and the space it takes (:func:`storage_stats` reports it).

    ``stored_bytes`` is what the store's data occupies, indexes included: on SQLite the database
    pages in use (free pages left by deletes are not counted; the file keeps them for reuse), on
    PostgreSQL the total size of the store's tables with their indexes and TOAST. ``None`` when
    the store cannot tell (the in-memory store, or a store that does not report storage).
    """

    backend: str
    sessions: int
    runs: int
    events: int
    stored_bytes: int | None = None

    @property
    def bytes_per_event(self) -> float | None:
        """``stored_bytes`` over ``events`` (everything counted, sessions and runs included)."""
        if self.stored_bytes is None or self.events == 0:
            return None
        return self.stored_bytes / self.events

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "sessions": self.sessions,
            "runs": self.runs,
            "events": self.events,
            "stored_bytes": self.stored_bytes,
            "bytes_per_event": self.bytes_per_event,
        }


@runtime_checkable
class ReportsStorage(Protocol):
    """Optional: a store that counts its own contents (cheaply, with the bytes on disk).

    :func:`storage_stats` uses it when present and otherwise counts through the
    ``SessionStore`` protocol, which reads every event and knows no byte figure.
    """

    async def storage_stats(self) -> StorageStats:
        """Sessions, runs and events held now, and the bytes they take where known."""


#: Sessions and events read per call while :func:`storage_stats` counts through the protocol.
COUNT_PAGE = 1000


async def storage_stats(store: SessionStore) -> StorageStats:
    """Sessions, runs and events in ``store``, with the bytes they occupy where it can tell.

    A store that implements :class:`ReportsStorage` answers itself, in one query. Any other
    ``SessionStore`` is counted through this protocol, page by page: every session, run and
    event is read once, and there is no byte figure. It lives beside the port so that wrappers
    (``CompositeStore``) and maintenance share it without depending on each other.
    """
    if isinstance(store, ReportsStorage):
        return await store.storage_stats()
    sessions = runs = events = 0
    cursor: str | None = None
    while page := await store.list_sessions(limit=COUNT_PAGE, cursor=cursor):
        for session in page:
            sessions += 1
            runs += len(await store.list_runs(session.id))
            after = 0
            while batch := await store.get_events(session.id, after=after, limit=COUNT_PAGE):
                events += len(batch)
                after = batch[-1].sequence_number or after
        cursor = page[-1].id
    return StorageStats(type(store).__name__, sessions, runs, events)
