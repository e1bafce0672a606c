"""The SQLite store's statements, its ``Dialect`` and the operations its writer thread runs.

Each operation takes the writer's connection, inside the batch's transaction (or a request's
savepoint), and the set of sessions the write touched; appends reserve sequence numbers and
insert rows, the rest saves or deletes sessions, runs and events. It knows the SQL and the
domain values; nothing about threads, queues or futures (``_writer.py`` schedules these).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Final

import orjson

from agent_session_manager.core.errors import StorageError, ValidationError
from agent_session_manager.core.events import Event
from agent_session_manager.core.lifecycle import RunStatus
from agent_session_manager.store._common import (
    ENDED_RUN_STATUSES,
    run_ended,
    run_state_changed,
)
from agent_session_manager.store._idcodec import EVENT_ID_PREFIX, RUN_ID_PREFIX, encode_id
from agent_session_manager.store.sql.codec import (
    EVENT_COLUMNS,
    EVENTS_JOIN,
    EventRow,
    event_from_row,
    event_row,
)
from agent_session_manager.store.sql.errors import SQLErrors
from agent_session_manager.store.sql.filters import (
    Dialect,
    RunRow,
    SessionRow,
    session_events_sql,
)

#: SQLite's default page size (the store keeps it), for the checkpoint's page estimate.
_PAGE_BYTES: Final = 4096
#: Bound parameters per ``IN (…)`` chunk (SQLite allows 32766).
_IN_CHUNK: Final = 500


def _text(value: object, what: str, _width: int | None = None) -> str:
    """A text value's check: a string (SQLite stores any width and NUL characters)."""
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, got {type(value).__name__}")
    return value


#: SQLite's spelling of the queries both SQL stores filter alike (``store/sql/filters.py``).
SQLITE: Final = Dialect(
    placeholder=lambda _n: "?",
    any_of=lambda column, values, bind: f"{column} IN ({','.join(bind(v) for v in values)})",
    tag_filter=(
        "EXISTS (SELECT 1 FROM json_each(asm_sessions.record, '$.tags') WHERE json_each.value = {})"
    ),
    id_order="id",
    unlimited=-1,
    text=_text,
)
# One session's events (parameters: session id, cursor), rows for ``session_events``.
_SESSION_EVENTS: Final = session_events_sql(SQLITE)
_SESSION_KEY: Final = "(SELECT session_key FROM asm_session_sequences WHERE session_id = ?)"
# A stored id is skipped, not an error: ``_append_new`` counts the rows inserted instead of
# looking the ids up first. (A clash of (session key, number) still fails.)
_INSERT_EVENT: Final = (
    "INSERT INTO asm_events (session_key, id, type, run_id, timestamp, data, metadata, provider,"
    " schema_version, sequence_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO NOTHING"
)
_RESERVE_SEQUENCES: Final = (
    "UPDATE asm_session_sequences SET last_sequence = last_sequence + ? WHERE session_id = ?"
    " RETURNING session_key, last_sequence"
)
# Several sessions' counters in one statement: $1 is a JSON object {session_id: count}.
_RESERVE_MANY: Final = (
    "UPDATE asm_session_sequences SET last_sequence = last_sequence + v.value"
    " FROM json_each(?) AS v WHERE asm_session_sequences.session_id = v.key"
    " RETURNING session_id, session_key, last_sequence"
)
_LAST_SEQUENCE: Final = "SELECT last_sequence FROM asm_session_sequences WHERE session_id = ?"
_UPSERT_SESSION: Final = (
    "INSERT INTO asm_sessions (id, agent_id, status, created_at, updated_at, record)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET agent_id = excluded.agent_id,"
    " status = excluded.status, created_at = excluded.created_at,"
    " updated_at = excluded.updated_at, record = excluded.record"
)
_INIT_SEQUENCE: Final = (
    "INSERT INTO asm_session_sequences (session_id, last_sequence) VALUES (?, 0)"
    " ON CONFLICT (session_id) DO NOTHING"
)
_UPSERT_RUN: Final = (
    "INSERT INTO asm_runs (id, session_id, status, created_at, record) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET session_id = excluded.session_id,"
    " status = excluded.status, created_at = excluded.created_at, record = excluded.record"
)

# The compare-and-set of a guarded flush (parameters: status, record, id, expected status).
_MOVE_RUN: Final = "UPDATE asm_runs SET status = ?, record = ? WHERE id = ? AND status = ?"
_ENDED: Final = "(" + ", ".join(f"'{s}'" for s in ENDED_RUN_STATUSES) + ")"
_ENDED_RUN: Final = f"SELECT id, status FROM asm_runs WHERE id = ? AND status IN {_ENDED}"

_EventRow = EventRow
_Op = Callable[[sqlite3.Connection, set[str]], Any]


_event_row = event_row


def _locked(exc: BaseException) -> bool:
    """SQLite's write lock stayed taken (another writer held it past the busy timeout)."""
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


#: What this store's errors say (``store/sql/errors.py`` maps them): a locked database is a
#: failed connection (retryable), anything else a failed write.
SQLITE_ERRORS: Final = SQLErrors("SQLite", "sqlite_error", connection_failed=_locked)


class _Touched(set[str]):
    """The sessions a write appended to, with the events it appended to each, in order, and
    an estimate of the database pages the appends dirtied."""

    def __init__(self) -> None:
        super().__init__()
        self.fresh: dict[str, list[Event]] = {}
        self.pages = 0

    def merge(self, other: _Touched) -> None:
        self |= other
        self.pages += other.pages
        for session_id, events in other.fresh.items():
            self.fresh.setdefault(session_id, []).extend(events)


def _load_events_by_id(conn: sqlite3.Connection, ids: Sequence[bytes]) -> dict[str, Event]:
    """The stored events among the encoded ``ids``, by (decoded) id."""
    found: dict[str, Event] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT {EVENT_COLUMNS} FROM {EVENTS_JOIN} WHERE e.id IN ({marks})"
        for row in conn.execute(sql, chunk):
            event = event_from_row(row)
            found[event.id] = event
    return found


def _reserve(conn: sqlite3.Connection, session_id: str, count: int) -> tuple[int, int]:
    """Reserve ``count`` sequence numbers in ``session_id``; return (session key, last one)."""
    rows = conn.execute(_RESERVE_SEQUENCES, (count, session_id)).fetchall()
    if not rows:
        exists = conn.execute("SELECT 1 FROM asm_sessions WHERE id = ?", (session_id,))
        if exists.fetchone() is None:
            raise ValidationError(
                f"cannot append to unknown session {session_id}",
                details={"session_id": session_id},
            )
        # A session row without its counter (written by other tooling). Events hang off the
        # counter row, so the session has none yet: start at zero.
        conn.execute(_INIT_SEQUENCE, (session_id,))
        rows = conn.execute(_RESERVE_SEQUENCES, (count, session_id)).fetchall()
    key, last = rows[0]
    return int(key), int(last)


def _reserve_all(conn: sqlite3.Connection, counts: dict[str, int]) -> list[tuple[str, int, int]]:
    """Reserve ``counts[session_id]`` numbers in each session; return
    (session, session key, last number) for each."""
    if len(counts) == 1:
        ((session_id, count),) = counts.items()
        return [(session_id, *_reserve(conn, session_id, count))]
    found: list[tuple[str, int, int]] = conn.execute(
        _RESERVE_MANY, (orjson.dumps(counts),)
    ).fetchall()
    if len(found) < len(counts):  # unknown sessions (or counters to create) one by one
        done = {session_id for session_id, _, _ in found}
        found += [(sid, *_reserve(conn, sid, n)) for sid, n in counts.items() if sid not in done]
    return found


def _append(
    conn: sqlite3.Connection,
    items: Sequence[tuple[Event, _EventRow]],
    touched: set[str],
    *,
    runs_checked: bool = False,
) -> list[Event]:
    """Append ``items``; an event whose id is stored already is returned as stored."""
    if not items:
        return []
    stored = _load_events_by_id(conn, list(dict.fromkeys(row[1] for _, row in items)))
    return _insert(conn, items, stored, touched, runs_checked=runs_checked)


class _StoredId(Exception):
    """An append taken for new held an id that is stored already (see ``_append_new``)."""


def _append_new(
    conn: sqlite3.Connection, items: Sequence[tuple[Event, _EventRow]], touched: set[str]
) -> list[Event]:
    """:func:`_append` without looking the ids up first: the insert skips a stored id, and if
    it skipped any this raises ``_StoredId``, so the batch is rolled back and written again by
    ``_write_apart``, whose appends look up. Retried appends are rare; the lookup is not free
    (~1.2 us an event with 100 sessions)."""
    if not items:
        return []
    return _insert(conn, items, {}, touched, all_new=True)


def _insert(
    conn: sqlite3.Connection,
    items: Sequence[tuple[Event, _EventRow]],
    stored: dict[str, Event],
    touched: set[str],
    *,
    all_new: bool = False,
    runs_checked: bool = False,
) -> list[Event]:
    """Number and insert the ``items`` whose ids are neither in ``stored`` (already stored,
    by id) nor earlier in ``items``; return every item as stored. An event of a run that has
    ended raises (``runs_checked``: the caller checked, before it ended the run itself)."""
    fresh: list[tuple[Event, _EventRow]] = []
    counts: dict[str, int] = {}
    claimed: set[str] = set()
    for event, row in items:
        if event.id in stored or event.id in claimed:
            continue
        claimed.add(event.id)
        fresh.append((event, row))
        counts[event.session_id] = counts.get(event.session_id, 0) + 1
    if not runs_checked:
        _check_runs_open(conn, {event.run_id for event, _ in fresh})
    next_number: dict[str, int] = {}
    keys: dict[str, int] = {}
    for sid, key, last in _reserve_all(conn, counts):
        next_number[sid] = last - counts[sid] + 1
        keys[sid] = key
    params = []
    appended: dict[str, list[Event]] = {sid: [] for sid in counts}
    size = 0
    for event, row in fresh:
        number = next_number[event.session_id]
        next_number[event.session_id] = number + 1
        stored[event.id] = new = event.with_sequence(number)
        appended[event.session_id].append(new)
        params.append((keys[row[0]], *row[1:], number))
        size += len(row[5])
    inserted = conn.executemany(_INSERT_EVENT, params).rowcount
    if inserted != len(params):
        if all_new:
            raise _StoredId
        raise StorageError(f"SQLite inserted {inserted} of {len(params)} events")
    touched.update(counts)
    if isinstance(touched, _Touched):
        for session_id, events in appended.items():
            touched.fresh.setdefault(session_id, []).extend(events)
        # The rows, one primary-key leaf per session, the id index's and the counters' pages.
        touched.pages += size // _PAGE_BYTES + len(counts) + 2
    return [stored[event.id] for event, _ in items]


def _require_session(conn: sqlite3.Connection, session_id: str, why: str) -> None:
    if conn.execute("SELECT 1 FROM asm_sessions WHERE id = ?", (session_id,)).fetchone() is None:
        raise ValidationError(f"{why}: unknown session {session_id}", details={"id": session_id})


def _save_session(conn: sqlite3.Connection, row: SessionRow) -> None:
    conn.execute(_UPSERT_SESSION, row)
    conn.execute(_INIT_SEQUENCE, (row[0],))


def _save_run(conn: sqlite3.Connection, row: RunRow) -> None:
    _require_session(conn, row[1], f"cannot save run {row[0]}")
    conn.execute(_UPSERT_RUN, row)


def _move_run(conn: sqlite3.Connection, row: RunRow, expected: RunStatus) -> None:
    """Write the run only if its stored status is still ``expected`` (a compare-and-set: the
    writer thread's transaction holds SQLite's write lock, so no other writer comes between)."""
    run_id, _session_id, status, _created_at, record = row
    if conn.execute(_MOVE_RUN, (status, record, run_id, str(expected))).rowcount != 1:
        found = conn.execute("SELECT status FROM asm_runs WHERE id = ?", (run_id,)).fetchone()
        raise run_state_changed(run_id, expected, found[0] if found else None)


def _check_runs_open(conn: sqlite3.Connection, run_ids: set[str | None]) -> None:
    """Refuse events of runs that have ended (one query a batch, none without run ids)."""
    ids = [run_id for run_id in run_ids if run_id is not None]
    if len(ids) == 1:  # the usual batch of one run: a statement SQLite keeps prepared
        ended = conn.execute(_ENDED_RUN, ids).fetchone()
        if ended is not None:
            raise run_ended(ended[0], ended[1])
        return
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        ended = conn.execute(
            f"SELECT id, status FROM asm_runs WHERE id IN ({marks}) AND status IN {_ENDED}",
            chunk,
        ).fetchone()
        if ended is not None:
            raise run_ended(ended[0], ended[1])


def _delete_session(conn: sqlite3.Connection, session_id: str) -> None:
    conn.execute(f"DELETE FROM asm_events WHERE session_key = {_SESSION_KEY}", (session_id,))
    for table in ("asm_runs", "asm_session_sequences"):
        conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
    conn.execute("DELETE FROM asm_sessions WHERE id = ?", (session_id,))


def _delete_runs(conn: sqlite3.Connection, run_ids: Sequence[str]) -> int:
    deleted = 0
    for start in range(0, len(run_ids), _IN_CHUNK):
        chunk = run_ids[start : start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        # A run's events are found within its session's key range (there is no run index).
        by_session: dict[int, list[bytes]] = {}
        for run_id, key in conn.execute(
            "SELECT r.id, q.session_key FROM asm_runs AS r"
            " JOIN asm_session_sequences AS q ON q.session_id = r.session_id"
            f" WHERE r.id IN ({marks})",
            chunk,
        ):
            by_session.setdefault(key, []).append(encode_id(run_id, RUN_ID_PREFIX))
        for key, encoded in by_session.items():
            conn.execute(
                "DELETE FROM asm_events WHERE session_key = ?"
                f" AND run_id IN ({','.join('?' * len(encoded))})",
                (key, *encoded),
            )
        deleted += conn.execute(f"DELETE FROM asm_runs WHERE id IN ({marks})", chunk).rowcount
    return deleted


def _delete_events(conn: sqlite3.Connection, session_id: str, event_ids: Sequence[str]) -> int:
    deleted = 0
    for start in range(0, len(event_ids), _IN_CHUNK):
        chunk = [encode_id(e, EVENT_ID_PREFIX) for e in event_ids[start : start + _IN_CHUNK]]
        marks = ",".join("?" * len(chunk))
        sql = f"DELETE FROM asm_events WHERE session_key = {_SESSION_KEY} AND id IN ({marks})"
        deleted += conn.execute(sql, (session_id, *chunk)).rowcount
    return deleted
