"""The PostgreSQL store's writer tasks: the shared write queue, group commit, retries.

Each writer task owns one connection, takes a share of the queued requests and commits them in
one transaction, retrying a batch that lost a race, reconnecting when nothing was committed,
and running a failing batch request by request so one bad request fails alone; then it
settles the callers' futures and wakes this store's waiters. It knows scheduling and
transactions; the SQL of each operation is in ``_ops.py``; nothing about the public methods.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg

from agent_session_manager.core.errors import ConcurrencyError, StorageError, ValidationError
from agent_session_manager.store._notify import SessionNotifier
from agent_session_manager.store.postgres._open import _connect
from agent_session_manager.store.postgres._ops import (
    _CONNECTION_LOST,
    _RACES,
    POSTGRES_ERRORS,
    LookUpFirst,
    _append_groups,
    _Item,
)
from agent_session_manager.store.sql.errors import storage_error

#: Most requests committed in one transaction.
MAX_BATCH_REQUESTS: Final = 1000
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
        *,
        after_insert: Callable[[], None] | None = None,
    ) -> None:
        self._dsn = dsn
        #: A test seam: called inside the transaction after a write inserted events; whatever
        #: it raises fails that write (``PostgresSessionStore.open``'s ``_after_insert``).
        self._after_insert = after_insert
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
                        _settle(request, None, storage_error(POSTGRES_ERRORS, exc, "write"))
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
            except LookUpFirst:
                look_up = True
                continue
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
                        _settle(request, None, storage_error(POSTGRES_ERRORS, exc, "write"))
                    return
                if len(batch) > 1:  # find the culprit: run each request alone
                    for request in batch:
                        await self._run_batch([request])
                    return
                if isinstance(exc, asyncpg.PostgresError):
                    exc = storage_error(POSTGRES_ERRORS, exc, "write")
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
            _settle(
                request,
                None,
                storage_error(POSTGRES_ERRORS, last_race or RuntimeError("race"), "write"),
            )

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
                    if self._after_insert is not None and touched:
                        self._after_insert()
            except (*_RACES, *_CONNECTION_LOST):
                raise
            except (ValidationError, ConcurrencyError, asyncpg.PostgresError) as exc:
                if isinstance(exc, asyncpg.exceptions.ForeignKeyViolationError):
                    exc = ValidationError(f"unknown session: {exc}")
                elif isinstance(exc, asyncpg.PostgresError):
                    exc = storage_error(POSTGRES_ERRORS, exc, "write")
                outcome.errors[index] = exc
                continue
            outcome.touched |= touched
        if appends:
            groups = [batch[i].items or [] for i in appends]
            results = await _append_groups(conn, groups, outcome.touched, look_up=look_up)
            if self._after_insert is not None and outcome.touched:
                self._after_insert()  # (a write before that inserted events failed already)
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
