"""The PostgreSQL ``SessionStore``: many processes and hosts sharing one database, on asyncpg.

How it works:

* **Writer tasks, group commit.** Callers validate and encode their input on the event loop
  and queue a request with a future. A writer task owning a dedicated connection drains the
  queue and runs everything waiting in one transaction, then resolves the futures (``writers``
  such tasks, two by default, commit concurrently: while one batch is at the server the event
  loop works on another's callers; a burst is shared among idle writers only in shares of at
  least ``MIN_SHARE``). Requests in one batch are
  concurrent by definition (no caller awaited another), so the writer is free to run the
  session/run writes first (each inside its own SAVEPOINT, so a failing one is rolled back
  alone) and then every append of the batch together: one query locks the sessions' counters
  (``SELECT … FOR UPDATE`` in ``session_id`` order, so batches from different processes never
  deadlock) and reserves the numbers (``UPDATE asm_session_sequences … RETURNING``, which also
  sends the NOTIFY), one binary ``COPY`` writes the rows: four round trips per batch with BEGIN
  and COMMIT, whatever its size. Appends are idempotent by id without a lookup on the way: a
  stored id fails the ``COPY`` (unique violation) and the batch runs again with the same query
  also finding the stored ids, which are then returned as stored and not written.
* **Sequence numbers** are reserved inside the write transaction while the counter rows are
  locked, so they stay gap-free and strictly increasing with any number of processes. A batch
  that loses a race (deadlock, serialization failure, an event id inserted meanwhile by another
  process) is retried; a batch failing for another reason is re-run request by request, so one
  bad request never fails the others.
* **Reads** go through an asyncpg connection pool.
* **Long-poll.** Every append transaction sends ``NOTIFY asm_events, '<session id>'``. Each store
  keeps one ``LISTEN`` connection (opened on the first wait) and wakes its waiters
  (:class:`SessionNotifier`) when another process commits; appends by this store wake local
  waiters directly after the commit.
* **Schema.** On open the Alembic revision is read with plain asyncpg: at head nothing else
  happens; older or missing → migrate (Alembic renders the upgrade as PostgreSQL SQL, asyncpg
  runs it under an advisory lock; Alembic and SQLAlchemy are imported only then); unknown →
  ``StorageError(code="schema_too_new")`` and nothing is changed.

It knows PostgreSQL, the schema in ``store/sql/schema.py`` and the domain values; nothing about
providers, orchestration or other backends.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Self

import asyncpg

from agent_session_manager.core.errors import (
    RunNotFound,
    SessionNotFound,
    StorageError,
    ValidationError,
)
from agent_session_manager.core.events import Event
from agent_session_manager.core.lifecycle import RunStatus, SessionStatus
from agent_session_manager.core.models import Run, Session
from agent_session_manager.store._common import (
    check_cursor,
    check_id,
    check_ids,
    check_limit,
    check_run,
    check_session,
    check_timeout,
    check_types,
)
from agent_session_manager.store._idcodec import (
    EVENT_ID_PREFIX,
    RUN_ID_PREFIX,
    encode_id,
)
from agent_session_manager.store._notify import SessionNotifier, long_poll
from agent_session_manager.store.protocol import StorageStats
from agent_session_manager.store.sql.codec import (
    COUNT_COLUMNS,
    EVENT_COLUMNS,
    EVENTS_JOIN,
    SESSION_EVENT_COLUMNS,
    EventRow,
    dump_record,
    event_from_row,
    event_row,
    run_status,
    session_events,
    session_status,
    to_micros,
)
from agent_session_manager.store.sql.migrations import (
    HEAD_REVISION,
    check_known_revision,
    postgres_revision,
)

if TYPE_CHECKING:
    from asyncpg.pool import Pool

logger = logging.getLogger(__name__)

#: The channel every append transaction notifies, with the session id as payload.
NOTIFY_CHANNEL: Final = "asm_events"
#: The tables a store's data lives in (``store/sql/schema.py`` and Alembic's version table), which
#: ``storage_stats`` sizes; looked up on the connection's ``search_path`` like every query.
STORE_TABLES: Final = (
    "asm_sessions",
    "asm_runs",
    "asm_session_sequences",
    "asm_events",
    "alembic_version",
)
#: Most requests committed in one transaction.
MAX_BATCH_REQUESTS: Final = 1000
#: Most read connections in the pool.
READERS: Final = 8
#: Writer connections committing batches concurrently (one transaction each at a time): while
#: one batch is at the server, the event loop works on another's callers. Measured on a 2-CPU
#: host with the server local, 100 sessions appending, eight interleaved pairs: 1 writer
#: 16,000-21,500 appends/s (median 18,750), 2 writers 16,100-24,700 (median 20,100, ahead in
#: six pairs). Raise it for a remote server (longer round trips).
WRITERS: Final = 2
#: A burst of queued requests is shared among idle writers only in shares of at least this
#: many: smaller transactions cost more than the overlap gains.
MIN_SHARE: Final = 32
#: Attempts for a batch that lost a race with another writer before its callers see the error.
_MAX_ATTEMPTS: Final = 8
#: Column widths of ``store/sql/schema.py`` (PostgreSQL enforces them; the SQLite store does not).
_WIDTHS: Final = {"session_id": 64, "id": 64, "type": 128, "run_id": 64, "provider": 64}


# One session's events ($1 its id, $2 the cursor), rows for ``session_events``: the key looked
# up once.
_SESSION_EVENTS: Final = (
    f"SELECT {SESSION_EVENT_COLUMNS} FROM asm_events AS e"
    " WHERE e.session_key = (SELECT session_key FROM asm_session_sequences"
    " WHERE session_id = $1) AND e.sequence_number > $2"
)
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
_SessionRow = tuple[str, str, str, int, int, str]
_RunRow = tuple[str, str, str, int, str]


# -- encoding -------------------------------------------------------------------------------
def _text(value: object, what: str, width: int | None = None) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, got {type(value).__name__}")
    if width is not None and len(value) > width:
        raise ValidationError(f"{what} is longer than {width} characters: {value[:80]!r}…")
    if "\x00" in value:
        raise ValidationError(f"{what} must not contain NUL characters")
    return value


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


def _session_row(session: object) -> _SessionRow:
    session = check_session(session)
    return (
        _text(session.id, "session id", 64),
        _text(session.agent_id, "session agent_id", 255),
        str(session.status),
        to_micros(session.created_at, "session created_at"),
        to_micros(session.updated_at, "session updated_at"),
        _text(dump_record(session), "session record"),
    )


def _run_row(run: object) -> _RunRow:
    run = check_run(run)
    return (
        _text(run.id, "run id", 64),
        _text(run.session_id, "run session_id", 64),
        str(run.status),
        to_micros(run.created_at, "run created_at"),
        _text(dump_record(run), "run record"),
    )


def _storage_error(exc: BaseException, doing: str) -> StorageError:
    lost = isinstance(exc, _CONNECTION_LOST)
    error = StorageError(
        f"PostgreSQL failed to {doing}: {exc}",
        code="storage_connection_failed" if lost else "storage_write_failed",
        details={"postgres_error": type(exc).__name__},
    )
    error.__cause__ = exc
    return error


def _closed_error() -> StorageError:
    return StorageError("the PostgreSQL session store is closed", code="storage_error")


def asyncpg_dsn(url: str) -> str:
    """The asyncpg spelling of a store URL (``postgresql+asyncpg://`` → ``postgresql://``)."""
    scheme, sep, rest = url.partition("://")
    base = scheme.lower().partition("+")[0]
    if not sep or base not in ("postgresql", "postgres"):
        raise ValidationError(f"not a PostgreSQL URL: {url!r}")
    return f"postgresql://{rest}"


# -- schema revision --------------------------------------------------------------------------
#: Session settings of the read (and schema, LISTEN) connections. Custom plans: a generic plan
#: picked while a table is still small (a new database) keeps scanning it sequentially once it
#: is large (measured: the idempotency lookup by id went from 0.1 to 9 ms per batch at 10,000
#: events).
_SERVER_SETTINGS: Final = {"plan_cache_mode": "force_custom_plan"}
#: Session settings of the writer connections. Every statement a writer runs finds its rows
#: through an index (keys, ids, counters), so with sequential scans ruled out its plans stay
#: index plans however small the tables were when they were made, and the writer can keep
#: generic plans instead of planning each batch's query again (the append query took 0.3 ms
#: to plan, ~10 % of a 100-append batch; 1.5-1.8 against 2.0-2.4 ms a batch, measured).
_WRITER_SETTINGS: Final = {"plan_cache_mode": "auto", "enable_seqscan": "off"}


async def _connect(dsn: str, timeout: float, *, writer: bool = False) -> asyncpg.Connection:
    try:
        conn: asyncpg.Connection = await asyncpg.connect(
            dsn,
            timeout=timeout,
            server_settings=_WRITER_SETTINGS if writer else _SERVER_SETTINGS,
        )
    except (asyncpg.PostgresError, OSError, TimeoutError, asyncpg.InterfaceError) as exc:
        raise StorageError(
            f"cannot connect to PostgreSQL: {exc}",
            code="storage_connection_failed",
            details={"postgres_error": type(exc).__name__},
        ) from exc
    return conn


async def prepare_schema(dsn: str, *, timeout: float = 30.0) -> tuple[str | None, str]:
    """Check the revision with plain asyncpg and migrate to head if needed (fail closed).

    Returns ``(revision before, revision after)``.
    """
    conn = await _connect(dsn, timeout)
    try:
        before = await postgres_revision(conn)
    finally:
        await conn.close()
    check_known_revision(before)
    if before != HEAD_REVISION:
        from agent_session_manager.store.sql.migrations import upgrade_postgres

        await upgrade_postgres(dsn)
    return before, HEAD_REVISION


# -- the writer -------------------------------------------------------------------------------
@dataclass(slots=True)
class _Request:
    future: asyncio.Future[Any]
    #: Events to append (an append request), or None.
    items: list[_Item] | None = None
    #: A write run inside its own SAVEPOINT (sessions, runs, flush, delete), or None.
    op: Callable[[asyncpg.Connection, set[str]], Awaitable[Any]] | None = None


@dataclass(slots=True)
class _Outcome:
    results: dict[int, Any] = field(default_factory=dict)
    errors: dict[int, BaseException] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)


async def _insert_events(conn: asyncpg.Connection, records: list[tuple[Any, ...]]) -> None:
    """Write event rows (in the column order of ``_EVENT_TABLE_COLUMNS``) with binary COPY."""
    await conn.copy_records_to_table("asm_events", records=records, columns=_EVENT_TABLE_COLUMNS)


async def _append_groups(
    conn: asyncpg.Connection,
    groups: Sequence[Sequence[_Item]],
    touched: set[str],
    *,
    look_up: bool = True,
) -> list[list[Event] | BaseException]:
    """Append several requests' events in the current transaction; per request: the stored
    events, or the ``ValidationError`` that rejected it (then none of its events is written).

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


async def _append_or_raise(
    conn: asyncpg.Connection, items: Sequence[_Item], touched: set[str]
) -> list[Event]:
    if not items:
        return []
    (result,) = await _append_groups(conn, [items], touched)
    if isinstance(result, BaseException):
        raise result
    return result


async def _require_session(conn: asyncpg.Connection, session_id: str, why: str) -> None:
    if await conn.fetchval(_SESSION_EXISTS, session_id) is None:
        raise ValidationError(f"{why}: unknown session {session_id}", details={"id": session_id})


async def _save_session(conn: asyncpg.Connection, row: _SessionRow) -> None:
    await conn.execute(_UPSERT_SESSION, *row)
    await conn.execute(_INIT_SEQUENCE, row[0])


async def _save_run(conn: asyncpg.Connection, row: _RunRow) -> None:
    await _require_session(conn, row[1], f"cannot save run {row[0]}")
    await conn.execute(_UPSERT_RUN, *row)


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


class _WriteQueue:
    """Requests waiting for a writer (shared by the store's writers)."""

    def __init__(self) -> None:
        self.requests: collections.deque[_Request] = collections.deque()
        self.ready = asyncio.Event()
        self.stopping = False
        #: Writers waiting for work; a writer leaves a share of the queue to each of them.
        self.idle = 0

    def put(self, request: _Request) -> None:
        self.requests.append(request)
        self.ready.set()

    def stop(self) -> None:
        self.stopping = True
        self.ready.set()


class _Writer:
    """A task owning one connection; runs queued requests in group-committed transactions."""

    def __init__(
        self,
        dsn: str,
        conn: asyncpg.Connection,
        notifier: SessionNotifier,
        queue: _WriteQueue,
        index: int,
    ) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = conn
        self.pid: int | None = conn.get_server_pid()
        self._notifier = notifier
        self._queue = queue
        #: Committed write transactions (tests check group commit with it).
        self.transactions = 0
        #: Whether the current batch has sent its COMMIT (then a lost connection leaves the
        #: outcome unknown; before it, nothing was written and the batch is retried).
        self._commit_sent = False
        self._task = asyncio.create_task(self._main(), name=f"asm-postgres-writer-{index}")

    async def join(self) -> None:
        """Wait for the task to finish (after ``queue.stop()``), then close the connection."""
        await self._task
        if self._conn is not None:
            try:
                await self._conn.close(timeout=5)
            except Exception:  # already broken: nothing more to release
                self._conn.terminate()
            self._conn = None

    async def _main(self) -> None:
        pending = self._queue.requests
        while True:
            if not pending:
                if self._queue.stopping:
                    return
                self._queue.ready.clear()
                self._queue.idle += 1
                try:
                    await self._queue.ready.wait()
                finally:
                    self._queue.idle -= 1
                continue
            # Share a burst with the idle writers: transactions then overlap instead of the
            # whole population of callers moving in lockstep behind one transaction. (Taking a
            # large burst in two halves, so one half's callers work while the other commits,
            # measured slower here: each transaction's round trips and commit cost more.)
            share = max(MIN_SHARE, -(-len(pending) // (self._queue.idle + 1)))
            batch: list[_Request] = []
            while pending and len(batch) < min(share, MAX_BATCH_REQUESTS):
                request = pending.popleft()
                if not request.future.done():  # a caller cancelled before we took it
                    batch.append(request)
            if batch:
                try:
                    await self._run_batch(batch)
                except BaseException as exc:  # never leave a caller hanging
                    for request in batch:
                        _settle(request, None, _storage_error(exc, "write"))
                    if not isinstance(exc, Exception):
                        raise

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await _connect(self._dsn, 30.0, writer=True)
            self.pid = self._conn.get_server_pid()
        return self._conn

    async def _run_batch(self, batch: list[_Request]) -> None:
        last_race: BaseException | None = None
        reconnected = False
        look_up = False  # appends skip the id lookup until a stored id shows up
        for attempt in range(_MAX_ATTEMPTS):
            self._commit_sent = False
            try:
                conn = await self._connection()
                outcome = await self._transaction(conn, batch, look_up)
            except _RACES as exc:
                last_race = exc
                if not look_up and isinstance(exc, asyncpg.exceptions.UniqueViolationError):
                    look_up = True  # a stored id (a retried append): again, looking ids up
                    continue
                await asyncio.sleep(0.001 * (attempt + 1))
                continue
            except StorageError as exc:  # could not connect
                for request in batch:
                    _settle(request, None, exc)
                return
            except Exception as exc:
                if isinstance(exc, _CONNECTION_LOST):
                    self._drop_connection()
                    if not self._commit_sent and not reconnected:
                        reconnected = True  # nothing was committed: retry on a new connection
                        continue
                    # The commit may or may not have happened; retrying by event id is safe.
                    for request in batch:
                        _settle(request, None, _storage_error(exc, "write"))
                    return
                if len(batch) > 1:  # find the culprit: run each request alone
                    for request in batch:
                        await self._run_batch([request])
                    return
                if isinstance(exc, asyncpg.PostgresError):
                    exc = _storage_error(exc, "write")
                _settle(batch[0], None, exc)
                return
            self.transactions += 1
            for index, request in enumerate(batch):
                if index in outcome.errors:
                    _settle(request, None, outcome.errors[index])
                else:
                    _settle(request, outcome.results.get(index), None)
            for session_id in outcome.touched:
                self._notifier.notify(session_id)
            return
        for request in batch:
            _settle(request, None, _storage_error(last_race or RuntimeError("race"), "write"))

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    async def _transaction(
        self, conn: asyncpg.Connection, batch: list[_Request], look_up: bool
    ) -> _Outcome:
        outcome = _Outcome()
        transaction = conn.transaction()
        await transaction.start()
        try:
            await self._write_batch(conn, batch, outcome, look_up)
        except BaseException:
            if not conn.is_closed():
                try:
                    await transaction.rollback()
                except Exception:  # the connection is unusable: start afresh next time
                    self._drop_connection()
            raise
        self._commit_sent = True  # from here a lost connection leaves the outcome unknown
        await transaction.commit()
        return outcome

    async def _write_batch(
        self, conn: asyncpg.Connection, batch: list[_Request], outcome: _Outcome, look_up: bool
    ) -> None:
        appends: list[int] = []
        for index, request in enumerate(batch):
            if request.op is None:
                appends.append(index)
                continue
            touched: set[str] = set()
            try:
                async with conn.transaction():  # a SAVEPOINT
                    outcome.results[index] = await request.op(conn, touched)
            except (*_RACES, *_CONNECTION_LOST):
                raise
            except (ValidationError, asyncpg.PostgresError) as exc:
                if isinstance(exc, asyncpg.exceptions.ForeignKeyViolationError):
                    exc = ValidationError(f"unknown session: {exc}")
                elif isinstance(exc, asyncpg.PostgresError):
                    exc = _storage_error(exc, "write")
                outcome.errors[index] = exc
                continue
            outcome.touched |= touched
        if appends:
            groups = [batch[i].items or [] for i in appends]
            results = await _append_groups(conn, groups, outcome.touched, look_up=look_up)
            for index, result in zip(appends, results, strict=True):
                if isinstance(result, BaseException):
                    outcome.errors[index] = result
                else:
                    outcome.results[index] = result


def _settle(request: _Request, result: Any, error: BaseException | None) -> None:
    future = request.future
    if future.done():  # the caller was cancelled; the write (if any) stays committed
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


# -- the store ------------------------------------------------------------------------------
class PostgresSessionStore:
    """A :class:`~agent_session_manager.store.protocol.SessionStore` in a PostgreSQL database.

    Open it with ``store = await PostgresSessionStore.open("postgresql://user@host/db")`` (or
    ``async with await PostgresSessionStore.open(url) as store``); close it with :meth:`close`.
    Any number of stores, in any number of processes, may share a database. If the connection
    fails during a commit the caller gets ``StorageError(code="storage_connection_failed")``
    without knowing whether the write landed; retrying with the same event ids is safe.
    """

    def __init__(self, dsn: str, pool: Pool, writer_conns: Sequence[asyncpg.Connection]) -> None:
        """Use :meth:`open`, which checks the schema and opens the connections first."""
        self._dsn = dsn
        self._pool = pool
        self._notifier = SessionNotifier()
        self._queue = _WriteQueue()
        self._writers = [
            _Writer(dsn, conn, self._notifier, self._queue, index)
            for index, conn in enumerate(writer_conns)
        ]
        self._listener: asyncpg.Connection | None = None
        self._listener_lock = asyncio.Lock()
        self._closed = False
        self._closing: asyncio.Future[None] | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        readers: int = READERS,
        writers: int = WRITERS,
        connect_timeout: float = 30.0,
    ) -> Self:
        """Connect to the database at ``url`` (``postgresql://user:password@host:port/db``),
        migrating its schema to head if it is older. ``readers`` bounds the read pool;
        ``writers`` connections commit batches concurrently (sequences stay gap-free: each
        batch locks the counters it uses)."""
        check_limit(readers, "readers")
        check_limit(writers, "writers")
        dsn = asyncpg_dsn(url)
        await prepare_schema(dsn, timeout=connect_timeout)
        writer_conns = list(
            await asyncio.gather(
                *(_connect(dsn, connect_timeout, writer=True) for _ in range(writers))
            )
        )
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=readers,
                timeout=connect_timeout,
                server_settings=_SERVER_SETTINGS,
            )
        except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
            for conn in writer_conns:
                await conn.close()
            raise StorageError(
                f"cannot connect to PostgreSQL: {exc}", code="storage_connection_failed"
            ) from exc
        return cls(dsn, pool, writer_conns)

    @property
    def write_transactions(self) -> int:
        """Write transactions committed by this store so far (group commit: far fewer than
        the writes under load)."""
        return sum(writer.transactions for writer in self._writers)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Finish queued writes, close every connection; waiters return ``[]``."""
        if self._closing is not None:
            await asyncio.shield(self._closing)
            return
        self._closed = True
        self._closing = asyncio.get_running_loop().create_future()
        try:
            self._queue.stop()
            for writer in self._writers:
                await writer.join()
            self._notifier.wake_all()
            async with self._listener_lock:
                if self._listener is not None:
                    listener, self._listener = self._listener, None
                    try:
                        await listener.close(timeout=5)
                    except Exception:
                        listener.terminate()
            await self._pool.close()
        finally:
            self._closing.set_result(None)

    # -- plumbing -------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise _closed_error()

    async def _write(self, request: _Request) -> Any:
        self._check_open()
        self._queue.put(request)
        return await request.future

    def _new_future(self) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        self._check_open()
        try:
            rows: list[asyncpg.Record] = await self._pool.fetch(sql, *args)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            if self._closed:
                raise _closed_error() from exc
            raise StorageError(
                f"PostgreSQL read failed: {exc}",
                code="storage_error",
                details={"postgres_error": type(exc).__name__},
            ) from exc
        return rows

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        async with self._listener_lock:
            if self._closed or (self._listener is not None and not self._listener.is_closed()):
                return
            conn = await _connect(self._dsn, 30.0)
            try:
                await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
            except BaseException:
                conn.terminate()
                raise
            conn.add_termination_listener(self._on_listener_lost)
            self._listener = conn

    def _on_notify(self, _conn: object, pid: int, _channel: str, payload: str) -> None:
        if all(pid != writer.pid for writer in self._writers):  # ours woke our waiters already
            self._notifier.notify(payload)

    def _on_listener_lost(self, _conn: object) -> None:
        # Waiters re-query (and re-LISTEN on a new connection) instead of sleeping to timeout.
        self._listener = None
        self._notifier.wake_all()

    # -- sessions -------------------------------------------------------------------------
    async def save_session(self, session: Session) -> None:
        row = _session_row(session)

        async def op(conn: asyncpg.Connection, _touched: set[str]) -> None:
            await _save_session(conn, row)

        await self._write(_Request(self._new_future(), op=op))

    async def get_session(self, session_id: str) -> Session:
        rows = await self._fetch("SELECT record FROM asm_sessions WHERE id = $1", session_id)
        if not rows:
            raise SessionNotFound(f"session {session_id} not found", details={"id": session_id})
        return Session.model_validate_json(rows[0][0])

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
        clauses: list[str] = []
        params: list[Any] = []

        def bind(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        if status is not None:
            clauses.append(f"status = {bind(str(session_status(status)))}")
        if agent_id is not None:
            clauses.append(f"agent_id = {bind(_text(agent_id, 'agent_id'))}")
        if created_after is not None:
            clauses.append(f"created_at >= {bind(to_micros(created_after, 'created_after'))}")
        if created_before is not None:
            clauses.append(f"created_at < {bind(to_micros(created_before, 'created_before'))}")
        if cursor is not None:
            clauses.append(f'id COLLATE "C" < {bind(_text(cursor, "cursor"))}')
        for tag in (tags,) if isinstance(tags, str) else dict.fromkeys(tags):
            clauses.append(
                f"(record::jsonb -> 'tags') @> jsonb_build_array({bind(_text(tag, 'tag'))}::text)"
            )
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        limit_sql = "" if limit is None else f" LIMIT {bind(limit)}"
        sql = f'SELECT record FROM asm_sessions{where} ORDER BY id COLLATE "C" DESC{limit_sql}'
        return [Session.model_validate_json(r[0]) for r in await self._fetch(sql, *params)]

    async def delete_session(self, session_id: str) -> None:
        session_id = _text(session_id, "session_id")

        async def op(conn: asyncpg.Connection, _touched: set[str]) -> None:
            await _delete_session(conn, session_id)

        await self._write(_Request(self._new_future(), op=op))

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        ids = list(check_ids(run_ids, "run_ids"))
        if not ids:
            return 0

        stored = [encode_id(run_id, RUN_ID_PREFIX) for run_id in ids]

        async def op(conn: asyncpg.Connection, _touched: set[str]) -> int:
            return int(await conn.fetchval(_DELETE_RUNS, ids, stored))

        deleted: int = await self._write(_Request(self._new_future(), op=op))
        return deleted

    async def delete_events(self, session_id: str, event_ids: Sequence[str]) -> int:
        session_id = check_id(session_id, "session_id")
        ids = list(check_ids(event_ids, "event_ids"))
        if not ids:
            return 0

        stored = [encode_id(event_id, EVENT_ID_PREFIX) for event_id in ids]

        async def op(conn: asyncpg.Connection, _touched: set[str]) -> int:
            return int(await conn.fetchval(_DELETE_EVENTS, session_id, stored))

        deleted: int = await self._write(_Request(self._new_future(), op=op))
        return deleted

    # -- runs -----------------------------------------------------------------------------
    async def save_run(self, run: Run) -> None:
        row = _run_row(run)

        async def op(conn: asyncpg.Connection, _touched: set[str]) -> None:
            await _save_run(conn, row)

        await self._write(_Request(self._new_future(), op=op))

    async def get_run(self, run_id: str) -> Run:
        rows = await self._fetch("SELECT record FROM asm_runs WHERE id = $1", run_id)
        if not rows:
            raise RunNotFound(f"run {run_id} not found", details={"id": run_id})
        return Run.model_validate_json(rows[0][0])

    async def list_runs(
        self, session_id: str, *, status: RunStatus | None = None, limit: int | None = None
    ) -> list[Run]:
        check_limit(limit)
        sql = "SELECT record FROM asm_runs WHERE session_id = $1"
        params: list[Any] = [_text(session_id, "session_id")]
        if status is not None:
            params.append(str(run_status(status)))
            sql += f" AND status = ${len(params)}"
        sql += ' ORDER BY created_at, id COLLATE "C"'
        if limit is not None:
            params.append(limit)
            sql += f" LIMIT ${len(params)}"
        return [Run.model_validate_json(r[0]) for r in await self._fetch(sql, *params)]

    # -- events ---------------------------------------------------------------------------
    async def append_event(self, event: Event) -> Event:
        request = _Request(self._new_future(), items=[_event_item(event)])
        stored: list[Event] = await self._write(request)
        return stored[0]

    async def append_events(self, events: Sequence[Event]) -> list[Event]:
        items = [_event_item(event) for event in events]
        if not items:
            return []
        stored: list[Event] = await self._write(_Request(self._new_future(), items=items))
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
        query = self._events_query(
            session_id,
            after=after,
            before=before,
            limit=limit,
            run_id=run_id,
            types=types,
            since=since,
            until=until,
        )
        return await query()

    def _events_query(
        self,
        session_id: str,
        *,
        after: int,
        before: int | None,
        limit: int | None,
        run_id: str | None,
        types: Sequence[str] | None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Callable[[], Awaitable[list[Event]]]:
        """Validate the filters now (on the caller's side) and return the query to run."""
        check_cursor(after, "after")
        check_cursor(before, "before")
        check_limit(limit)
        type_set = check_types(types)
        params: list[Any] = [_text(session_id, "session_id"), after]
        sql = _SESSION_EVENTS
        if before is not None:
            params.append(before)
            sql += f" AND e.sequence_number < ${len(params)}"
        if run_id is not None:
            params.append(encode_id(_text(run_id, "run_id"), RUN_ID_PREFIX))
            sql += f" AND e.run_id = ${len(params)}"
        if type_set is not None:
            if not type_set:

                async def nothing() -> list[Event]:
                    return []

                return nothing
            params.append(sorted(type_set))
            sql += f" AND e.type = ANY(${len(params)}::text[])"
        if since is not None:
            params.append(to_micros(since, "since"))
            sql += f" AND e.timestamp >= ${len(params)}"
        if until is not None:
            params.append(to_micros(until, "until"))
            sql += f" AND e.timestamp < ${len(params)}"
        sql += " ORDER BY e.sequence_number"
        if limit is not None:
            params.append(limit)
            sql += f" LIMIT ${len(params)}"

        async def query() -> list[Event]:
            return session_events(await self._fetch(sql, *params), session_id)

        return query

    async def latest_sequence(self, session_id: str) -> int:
        rows = await self._fetch(
            "SELECT last_sequence FROM asm_session_sequences WHERE session_id = $1",
            _text(session_id, "session_id"),
        )
        return int(rows[0][0]) if rows else 0

    async def storage_stats(self) -> StorageStats:
        """Exact counts and the total size of the store's tables (indexes and TOAST included),
        read in one statement. Counting scans the tables: 40-75 ms for a million events."""
        rows = await self._fetch(
            f"SELECT {COUNT_COLUMNS}, (SELECT coalesce(sum(pg_total_relation_size(c)), 0)"
            " FROM unnest($1::text[]) AS t(name) CROSS JOIN LATERAL to_regclass(t.name) AS c"
            " WHERE c IS NOT NULL)",
            list(STORE_TABLES),
        )
        sessions, runs, events, stored = rows[0]
        return StorageStats("postgresql", sessions, runs, events, int(stored))

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
        query = self._events_query(
            session_id, after=after, before=None, limit=limit, run_id=run_id, types=types
        )
        self._check_open()
        first = True

        async def read() -> list[Event]:
            nonlocal first
            # LISTEN is active before the first read: a commit after it always wakes us.
            if first or self._listener is None:
                await self._ensure_listener()
            first = False
            return await query()

        return await long_poll(
            self._notifier, session_id, timeout, read, lambda: self._closed, query
        )

    async def flush(
        self,
        *,
        run: Run | None = None,
        session: Session | None = None,
        events: Sequence[Event] = (),
    ) -> list[Event]:
        session_row = None if session is None else _session_row(session)
        run_row = None if run is None else _run_row(run)
        items = [_event_item(event) for event in events]

        async def op(conn: asyncpg.Connection, touched: set[str]) -> list[Event]:
            if session_row is not None:
                await _save_session(conn, session_row)
            if run_row is not None:
                await _save_run(conn, run_row)
            return await _append_or_raise(conn, items, touched)

        result: list[Event] = await self._write(_Request(self._new_future(), op=op))
        return result
