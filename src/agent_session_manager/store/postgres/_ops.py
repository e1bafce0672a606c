"""The PostgreSQL store's statements, ``Dialect``, event rows and its writers' operations.

Each operation takes a writer's connection inside the batch's transaction (or a request's
savepoint): appends lock and reserve the sessions' counters in one query and write the rows with
one binary ``COPY``; the rest saves or deletes sessions and runs. It also says which driver
errors are races (retry the batch) and which mean a lost connection. It knows the SQL and the
domain values; nothing about queues, tasks or futures (``_writer.py`` schedules these).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import asyncpg

from agent_session_manager.core.errors import ConcurrencyError, StorageError, ValidationError
from agent_session_manager.core.events import Event
from agent_session_manager.core.lifecycle import RunStatus
from agent_session_manager.store._common import (
    ENDED_RUN_STATUSES,
    run_ended,
    run_state_changed,
)
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

#: The channel every append transaction notifies, with the session id as payload.
NOTIFY_CHANNEL: Final = "asm_events"
#: Column widths of ``store/sql/schema.py`` (PostgreSQL enforces them; the SQLite store does not).
_WIDTHS: Final = {"session_id": 64, "id": 64, "type": 128, "run_id": 64, "provider": 64}


_LOCK_COUNTERS: Final = (
    "SELECT session_id FROM asm_session_sequences WHERE session_id = ANY($1::text[])"
    " ORDER BY session_id FOR UPDATE"
)
_NO_EVENT: Final = (
    "NULL::text, NULL::bytea, NULL::text, NULL::text, NULL::bytea, NULL::bigint, NULL::bigint,"
    " NULL::int"
)


# One round trip for the usual batch: lock the counters of the sessions $1 (in session_id
# order, so concurrent batches never deadlock), find which of the events $3 (of sessions $2)
# are stored already (idempotent appends; ``_lock_reserve`` leaves this out), and, when every
# session has its counter, reserve numbers for the others and NOTIFY. Rows: ('C', how many
# counters were locked); ('L', session) per locked counter, only when some are missing; ('R',
# session, key, last number, how many) per reservation; ('F', stored event) per event found. A
# batch with a session missing its counter reserves nothing here (the caller sorts it out).
def _lock_reserve(look_up: bool) -> str:
    stored = "e.id = ANY($3::bytea[])" if look_up else "false"
    return (
        "WITH locked AS MATERIALIZED (SELECT session_id, session_key FROM asm_session_sequences"
        " WHERE session_id = ANY($1::text[]) ORDER BY session_id FOR UPDATE),"
        " counted AS (SELECT count(*) AS n FROM locked),"
        f" found AS MATERIALIZED (SELECT {EVENT_COLUMNS} FROM {EVENTS_JOIN} WHERE {stored}),"
        " wanted AS (SELECT v.session_id, count(*) AS n"
        " FROM unnest($2::text[], $3::bytea[]) AS v(session_id, id)"
        " WHERE (SELECT n FROM counted) = cardinality($1::text[])"
        " AND v.id NOT IN (SELECT id FROM found) GROUP BY v.session_id),"
        " reserved AS (UPDATE asm_session_sequences AS s"
        " SET last_sequence = s.last_sequence + w.n"
        " FROM wanted AS w WHERE s.session_id = w.session_id"
        " RETURNING s.session_id, s.session_key, s.last_sequence, w.n,"
        f" pg_notify('{NOTIFY_CHANNEL}', s.session_id))"
        f" SELECT 'C', n, NULL::bigint, NULL::text, NULL::text, {_NO_EVENT} FROM counted"
        " UNION ALL SELECT 'L', NULL, NULL, NULL, session_id,"
        f" {_NO_EVENT} FROM locked WHERE (SELECT n FROM counted) < cardinality($1::text[])"
        " UNION ALL SELECT 'R', session_key, last_sequence, n::text, session_id,"
        f" {_NO_EVENT} FROM reserved"
        " UNION ALL SELECT 'F', NULL::bigint, NULL::bigint, * FROM found"
    )


_LOCK_FIND_RESERVE: Final = _lock_reserve(look_up=True)
#: The same without looking ids up: a stored id then fails the COPY (a unique violation), and the
#: batch is written again with ``_LOCK_FIND_RESERVE`` (retried appends are rare).
_LOCK_RESERVE: Final = _lock_reserve(look_up=False)
# Sessions whose counter row is missing (written by other tooling): events hang off the counter
# row, so such a session has none yet and starts at zero.
_CREATE_COUNTERS: Final = (
    "INSERT INTO asm_session_sequences (session_id, last_sequence)"
    " SELECT s.id, 0 FROM asm_sessions s WHERE s.id = ANY($1::text[])"
    " ON CONFLICT (session_id) DO NOTHING"
)
_RESERVE: Final = (
    "WITH reserved AS (UPDATE asm_session_sequences AS s"
    " SET last_sequence = s.last_sequence + v.n"
    " FROM unnest($1::text[], $2::bigint[]) AS v(session_id, n)"
    " WHERE s.session_id = v.session_id"
    " RETURNING s.session_id, s.session_key, s.last_sequence)"
    " SELECT session_id, session_key, last_sequence,"
    f" pg_notify('{NOTIFY_CHANNEL}', session_id) FROM reserved"
)
_EVENT_TABLE_COLUMNS: Final = (
    "session_key",
    "sequence_number",
    "id",
    "type",
    "run_id",
    "timestamp",
    "data",
    "metadata",
    "provider",
    "schema_version",
)
_UPSERT_SESSION: Final = (
    "INSERT INTO asm_sessions (id, agent_id, status, created_at, updated_at, record)"
    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET"
    " agent_id = excluded.agent_id, status = excluded.status,"
    " created_at = excluded.created_at, updated_at = excluded.updated_at,"
    " record = excluded.record"
)
_INIT_SEQUENCE: Final = (
    "INSERT INTO asm_session_sequences (session_id, last_sequence) VALUES ($1, 0)"
    " ON CONFLICT (session_id) DO NOTHING"
)
_UPSERT_RUN: Final = (
    "INSERT INTO asm_runs (id, session_id, status, created_at, record) VALUES ($1, $2, $3, $4, $5)"
    " ON CONFLICT (id) DO UPDATE SET session_id = excluded.session_id,"
    " status = excluded.status, created_at = excluded.created_at, record = excluded.record"
)
# The compare-and-set of a guarded flush: $1 id, $2 expected status, $3 status, $4 record.
_MOVE_RUN: Final = (
    "UPDATE asm_runs SET status = $3, record = $4 WHERE id = $1 AND status = $2 RETURNING 1"
)
_RUN_STATUS: Final = "SELECT status FROM asm_runs WHERE id = $1"
# An ended run among $1 (ids) if any. Run after the counters are locked, by a statement of its
# own: under READ COMMITTED it then sees a terminal write that committed while we waited.
_ENDED_RUN: Final = (
    "SELECT id, status FROM asm_runs WHERE id = ANY($1::text[]) AND status = ANY($2::text[])"
    " LIMIT 1"
)
_SESSION_EXISTS: Final = "SELECT 1 FROM asm_sessions WHERE id = $1"
_SESSION_KEY: Final = "(SELECT session_key FROM asm_session_sequences WHERE session_id = $1)"
# The runs' events go with them, found within each run's session key range (there is no run
# index); $2 holds $1's ids as the event table stores them. Returns how many runs were deleted.
_DELETE_RUNS: Final = (
    "WITH gone AS (DELETE FROM asm_runs WHERE id = ANY($1::text[]) RETURNING id, session_id),"
    " events AS (DELETE FROM asm_events AS e USING gone"
    " JOIN asm_session_sequences AS q ON q.session_id = gone.session_id"
    " JOIN unnest($1::text[], $2::bytea[]) AS v(id, stored) ON v.id = gone.id"
    " WHERE e.session_key = q.session_key AND e.run_id = v.stored)"
    " SELECT count(*) FROM gone"
)
_DELETE_EVENTS: Final = (
    f"WITH gone AS (DELETE FROM asm_events WHERE session_key = {_SESSION_KEY}"
    " AND id = ANY($2::bytea[]) RETURNING 1) SELECT count(*) FROM gone"
)

# Errors that mean "another writer got in the way": the whole batch is retried.
_RACES: Final = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.UniqueViolationError,
)
# Errors that mean the connection is gone (the server or the network failed, or an
# administrator terminated the backend).
_CONNECTION_LOST: Final = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
    # The protocol got out of step (e.g. the server's FATAL arrived while idle): reconnect.
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
    OSError,
)

_Item = tuple[Event, EventRow]


def _text(value: object, what: str, width: int | None = None) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, got {type(value).__name__}")
    if width is not None and len(value) > width:
        raise ValidationError(f"{what} is longer than {width} characters: {value[:80]!r}…")
    if "\x00" in value:
        raise ValidationError(f"{what} must not contain NUL characters")
    return value


#: PostgreSQL's spelling of the queries both SQL stores filter alike (``store/sql/filters.py``).
POSTGRES: Final = Dialect(
    placeholder=lambda n: f"${n}",
    any_of=lambda column, values, bind: f"{column} = ANY({bind(list(values))}::text[])",
    tag_filter="(record::jsonb -> 'tags') @> jsonb_build_array({}::text)",
    id_order='id COLLATE "C"',
    unlimited=None,
    text=_text,
)
# One session's events ($1 its id, $2 the cursor), rows for ``session_events``.
_SESSION_EVENTS: Final = session_events_sql(POSTGRES)


def _event_item(event: object) -> _Item:
    item = event_row(event)
    checked = item[0]
    # PostgreSQL enforces the text columns' widths and refuses NUL characters.
    for name in ("run_id", "provider"):
        value = getattr(checked, name)
        if value is not None:
            _text(value, f"event {name}", _WIDTHS[name])
    _text(checked.session_id, "event session_id", _WIDTHS["session_id"])
    _text(checked.id, "event id", _WIDTHS["id"])
    _text(checked.type, "event type", _WIDTHS["type"])
    return item


def _connection_lost(exc: BaseException) -> bool:
    return isinstance(exc, _CONNECTION_LOST)


#: What this store's errors say (``store/sql/errors.py`` maps them): a lost connection is a
#: failed connection (retryable), anything else a failed write.
POSTGRES_ERRORS: Final = SQLErrors(
    "PostgreSQL", "postgres_error", connection_failed=_connection_lost
)


async def _insert_events(conn: asyncpg.Connection, records: list[tuple[Any, ...]]) -> None:
    """Write event rows (in the column order of ``_EVENT_TABLE_COLUMNS``) with binary COPY."""
    await conn.copy_records_to_table("asm_events", records=records, columns=_EVENT_TABLE_COLUMNS)


async def _append_groups(
    conn: asyncpg.Connection,
    groups: Sequence[Sequence[_Item]],
    touched: set[str],
    *,
    look_up: bool = True,
    runs_checked: bool = False,
) -> list[list[Event] | BaseException]:
    """Append several requests' events in the current transaction; per request: the stored
    events, or the ``ValidationError`` that rejected it (then none of its events is written).
    An event of a run that has ended raises ``ConcurrencyError`` for the whole batch
    (``runs_checked``: the caller checked, before it ended the run itself).

    Without ``look_up`` the event ids are not looked up first: a stored one fails the ``COPY``
    with a unique violation (the writer then runs the batch again, looking up)."""
    session_ids = sorted({event.session_id for group in groups for event, _ in group})
    first: dict[bytes, str] = {}  # each (encoded) event id: the session it first comes with
    for group in groups:
        for event, row in group:
            first.setdefault(row[1], event.session_id)
    known: set[str] = set()
    stored: dict[str, Event] = {}
    reserved: dict[str, tuple[int, int]] = {}  # session: (key, last number)
    reserved_counts: dict[str, int] = {}
    query = _LOCK_FIND_RESERVE if look_up else _LOCK_RESERVE
    found = await conn.fetch(query, session_ids, list(first.values()), list(first))
    for record in found:
        kind = record[0]
        if kind == "C":
            if record[1] == len(session_ids):  # every counter locked (else 'L' rows follow)
                known.update(session_ids)
        elif kind == "L":
            known.add(record[4])
        elif kind == "R":
            reserved[record[4]] = (record[1], record[2])
            reserved_counts[record[4]] = int(record[3])
        else:
            event = event_from_row(record[3:])
            stored[event.id] = event
    if len(known) < len(session_ids):
        # A session row without its counter (written by other tooling): rebuild it from the log.
        missing = [sid for sid in session_ids if sid not in known]
        await conn.execute(_CREATE_COUNTERS, missing)
        known |= {r[0] for r in await conn.fetch(_LOCK_COUNTERS, missing)}

    outcomes: list[list[Event] | BaseException | None] = []
    fresh: list[list[_Item]] = []
    counts: dict[str, int] = {}
    claimed: set[str] = set()
    for group in groups:
        unknown = next((e.session_id for e, _ in group if e.session_id not in known), None)
        if unknown is not None:
            outcomes.append(
                ValidationError(
                    f"cannot append to unknown session {unknown}",
                    details={"session_id": unknown},
                )
            )
            fresh.append([])
            continue
        mine: list[_Item] = []
        for item in group:
            event_id = item[0].id
            if event_id in stored or event_id in claimed:
                continue
            claimed.add(event_id)
            mine.append(item)
            counts[item[0].session_id] = counts.get(item[0].session_id, 0) + 1
        outcomes.append(None)
        fresh.append(mine)
    if counts and not runs_checked:
        try:
            await _check_runs_open(conn, {event.run_id for mine in fresh for event, _ in mine})
        except ConcurrencyError:
            if not look_up:  # the events may be stored already (a retried append): look up
                raise LookUpFirst from None
            raise
    if counts:
        if not reserved:  # a session lacked its counter: nothing was reserved in one go
            rows = await conn.fetch(_RESERVE, list(counts), list(counts.values()))
            reserved = {r[0]: (r[1], r[2]) for r in rows}
        elif reserved_counts != counts:  # the two must agree on which events are new
            raise StorageError(f"reserved {reserved_counts} for appends of {counts}")
        next_number = {sid: last - counts[sid] + 1 for sid, (_, last) in reserved.items()}
        keys = {sid: key for sid, (key, _) in reserved.items()}
        records: list[tuple[Any, ...]] = []
        for mine in fresh:
            for event, row in mine:
                number = next_number[event.session_id]
                next_number[event.session_id] = number + 1
                stored[event.id] = event.with_sequence(number)
                records.append((keys[row[0]], number, *row[1:]))
        await _insert_events(conn, records)
        touched.update(counts)
    results: list[list[Event] | BaseException] = []
    for group, outcome in zip(groups, outcomes, strict=True):
        results.append(outcome if outcome is not None else [stored[e.id] for e, _ in group])
    return results


class LookUpFirst(Exception):
    """A batch taken for new met an ended run: its events may be stored already (a retried
    append is answered with the stored copies), so it is written again looking ids up."""


async def _check_runs_open(conn: asyncpg.Connection, run_ids: set[str | None]) -> None:
    """Refuse events of runs that have ended (one query a batch, none without run ids)."""
    ids = [run_id for run_id in run_ids if run_id is not None]
    if ids:
        ended = await conn.fetchrow(_ENDED_RUN, ids, ENDED_RUN_STATUSES)
        if ended is not None:
            raise run_ended(ended[0], ended[1])


async def _append_or_raise(
    conn: asyncpg.Connection, items: Sequence[_Item], touched: set[str], *, runs_checked: bool
) -> list[Event]:
    if not items:
        return []
    (result,) = await _append_groups(conn, [items], touched, runs_checked=runs_checked)
    if isinstance(result, BaseException):
        raise result
    return result


async def _require_session(conn: asyncpg.Connection, session_id: str, why: str) -> None:
    if await conn.fetchval(_SESSION_EXISTS, session_id) is None:
        raise ValidationError(f"{why}: unknown session {session_id}", details={"id": session_id})


async def _save_session(conn: asyncpg.Connection, row: SessionRow) -> None:
    await conn.execute(_UPSERT_SESSION, *row)
    await conn.execute(_INIT_SEQUENCE, row[0])


async def _save_run(conn: asyncpg.Connection, row: RunRow) -> None:
    await _require_session(conn, row[1], f"cannot save run {row[0]}")
    await conn.execute(_UPSERT_RUN, *row)


async def _move_run(conn: asyncpg.Connection, row: RunRow, expected: RunStatus) -> None:
    """Write the run only if its stored status is still ``expected``. A concurrent writer's
    UPDATE of the row waits for ours, then finds the status changed and matches nothing."""
    run_id, _session_id, status, _created_at, record = row
    if await conn.fetchval(_MOVE_RUN, run_id, str(expected), status, record) is None:
        found = await conn.fetchval(_RUN_STATUS, run_id)
        raise run_state_changed(run_id, expected, found)


async def _delete_session(conn: asyncpg.Connection, session_id: str) -> None:
    # Lock the counter row first, as appends do, then delete the children (events have no
    # foreign key to cascade from) and the session.
    await conn.execute(
        "SELECT 1 FROM asm_session_sequences WHERE session_id = $1 FOR UPDATE", session_id
    )
    await conn.execute(f"DELETE FROM asm_events WHERE session_key = {_SESSION_KEY}", session_id)
    for table in ("asm_session_sequences", "asm_runs"):
        await conn.execute(f"DELETE FROM {table} WHERE session_id = $1", session_id)
    await conn.execute("DELETE FROM asm_sessions WHERE id = $1", session_id)
