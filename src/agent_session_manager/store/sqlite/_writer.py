"""The SQLite store's writer thread: group commit, per-request isolation, settling futures.

One thread owns the write connection, drains the queued requests and writes them in one
``BEGIN IMMEDIATE`` transaction (all together first, each in its own savepoint if that fails),
asks the checkpointer for a checkpoint every ~``CHECKPOINT_PAGES`` dirtied pages, wakes the
waiters of the sessions it appended to, and watches ``PRAGMA data_version`` for other processes'
commits while anybody waits. It knows scheduling and transactions; the SQL of each operation is
in ``_ops.py``, and it knows nothing about the store's public methods.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from agent_session_manager.core.errors import StorageError
from agent_session_manager.core.events import Event
from agent_session_manager.store._notify import SessionNotifier
from agent_session_manager.store.sql.errors import closed_error, storage_error
from agent_session_manager.store.sqlite._checkpointer import CHECKPOINT_PAGES, Checkpointer
from agent_session_manager.store.sqlite._ops import (
    SQLITE_ERRORS,
    _append,
    _append_new,
    _EventRow,
    _Op,
    _Touched,
)

logger = logging.getLogger(__name__)

#: How often the writer thread looks for commits by other processes while someone waits.
CROSS_PROCESS_CHECK_S: Final = 0.075
#: Most requests committed in one transaction (bounds the latency of a huge backlog).
MAX_BATCH_REQUESTS: Final = 1000


#: Per session with waiting readers, the last commit's appends: (the number before the first
#: one, the events). A woken reader that had seen exactly up to that number takes them as they
#: are instead of reading again.
_Recent = dict[str, tuple[int, tuple[Event, ...]]]


@dataclass(slots=True)
class _Request:
    future: asyncio.Future[Any]
    #: Events to append (an append request: appends queued together are written as one), or
    op: _Op | None = None
    #: a write of its own (sessions, runs, flush, deletes).
    items: list[tuple[Event, _EventRow]] | None = None

    def run(self, conn: sqlite3.Connection, touched: set[str]) -> Any:
        if self.op is not None:
            return self.op(conn, touched)
        return _append(conn, self.items or (), touched)


class _Signal:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: A test seam: called on the writer thread, inside the transaction, after a write inserted
#: events; whatever it raises fails that write (``SQLiteSessionStore.open``'s ``_after_insert``).
_Hook = Callable[[], None]

_STOP: Final = _Signal("STOP")
_POKE: Final = _Signal("POKE")


class _Writer:
    """Owns the write connection; runs queued requests in group-committed transactions."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        notifier: SessionNotifier,
        waiting: dict[str, int],
        recent: _Recent,
        checkpointer: Checkpointer,
        name: str,
        *,
        checkpoint_pages: int = CHECKPOINT_PAGES,
        after_insert: _Hook | None = None,
    ) -> None:
        self._conn = conn
        self._checkpointer = checkpointer
        self._checkpoint_pages = checkpoint_pages
        self._after_insert = after_insert
        #: Pages dirtied (estimated) since the last checkpoint request.
        self._dirty_pages = 0
        self._recent = recent
        # Baseline for spotting other connections' commits; read before the store is handed out.
        self._data_version = _data_version(conn)
        self._notifier = notifier
        self._waiting = waiting
        self._queue: queue.SimpleQueue[_Request | _Signal] = queue.SimpleQueue()
        #: Committed write transactions (tests check group commit with it).
        self.transactions = 0
        #: Held while a batch is drained and written; a test holds it to make a backlog.
        self.gate = threading.Lock()
        self.failure: BaseException | None = None
        #: False once the thread has left its loop (stopped or crashed).
        self.alive = True
        self._submit_lock = threading.Lock()
        self._in_flight: list[_Request] = []
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def submit(self, request: _Request) -> bool:
        """Queue ``request``; False if the thread has stopped (it will never run it)."""
        with self._submit_lock:
            if not self.alive:
                return False
            self._queue.put(request)
            return True

    def poke(self) -> None:
        """Wake the thread so it starts watching for other processes' commits."""
        self._queue.put(_POKE)

    def stop(self) -> None:
        self._queue.put(_STOP)

    def join(self) -> None:
        self._thread.join()

    # -- thread body ----------------------------------------------------------------------
    def _main(self) -> None:
        try:
            stopping = False
            while not stopping:
                timeout = CROSS_PROCESS_CHECK_S if self._waiting else None
                try:
                    first = self._queue.get(timeout=timeout)
                except queue.Empty:
                    first = _POKE
                with self.gate:
                    batch, stopping = self._drain(first)
                    if batch:
                        self._in_flight = batch
                        self._run_batch(batch)
                        self._in_flight = []
                if self._waiting:
                    self._check_other_writers()
        except BaseException as exc:
            self.failure = exc
            logger.exception("SQLite writer thread crashed; the store is unusable")
            crashed = StorageError(f"the SQLite writer thread crashed: {exc!r}")
            self._settle([(r, None, crashed) for r in self._in_flight])
        finally:
            with self._submit_lock:
                self.alive = False
            self._fail_queued()
            self._conn.close()

    def _drain(self, first: _Request | _Signal) -> tuple[list[_Request], bool]:
        batch: list[_Request] = []
        item: _Request | _Signal | None = first
        while item is not None:
            if item is _STOP:
                return batch, True
            if isinstance(item, _Request):
                batch.append(item)
                if len(batch) >= MAX_BATCH_REQUESTS:
                    break
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                item = None
        return batch, False

    def _run_batch(self, batch: list[_Request]) -> None:
        """Write ``batch`` in one transaction: first all at once (appends queued one after the
        other merged into one insert, no savepoints); if anything fails, roll that back and
        write each request in its own savepoint, so only the failing ones fail."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._settle(
                [(r, None, storage_error(SQLITE_ERRORS, exc, "begin a write")) for r in batch]
            )
            return
        try:
            try:
                outcomes, wake = _write_together(conn, batch, self._after_insert)
            except Exception:
                conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                outcomes, wake = _write_apart(conn, batch, self._after_insert)
            conn.execute("COMMIT")
            self.transactions += 1
            # Appends counted their pages; any other request is taken as a page or two.
            self._dirty_pages += wake.pages + len(batch)
            if self._dirty_pages >= self._checkpoint_pages:
                self._dirty_pages = 0
                self._checkpointer.request()
        except sqlite3.Error as exc:
            logger.error("SQLite write transaction failed, rolling back: %s", exc)
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:  # the callers get the original error below
                    logger.exception("SQLite rollback failed too")
            outcomes = [(r, None, storage_error(SQLITE_ERRORS, exc, "commit")) for r in batch]
            wake = _Touched()
        self._settle(outcomes)
        if wake:
            waiting = self._waiting
            for session_id, events in wake.fresh.items():
                if events and session_id in waiting:
                    first = events[0].sequence_number or 1
                    self._recent[session_id] = (first - 1, tuple(events))
            self._notifier.notify_threadsafe(wake)

    def _settle(self, outcomes: list[tuple[_Request, Any, BaseException | None]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Request, Any, Any]]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].future.get_loop(), []).append(outcome)
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve_all, items)
            except RuntimeError:  # the loop is closed: nobody is left to receive the results
                logger.warning("dropping %d SQLite results for a closed event loop", len(items))

    def _check_other_writers(self) -> None:
        version = _data_version(self._conn)
        if version != self._data_version:
            self._data_version = version
            sessions = tuple(self._waiting)
            if sessions:
                self._notifier.notify_threadsafe(sessions)

    def _fail_queued(self) -> None:
        leftovers: list[tuple[_Request, Any, BaseException | None]] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Request):
                leftovers.append((item, None, closed_error(SQLITE_ERRORS)))
        if leftovers:
            self._settle(leftovers)


_Outcomes = list[tuple[_Request, Any, BaseException | None]]


def _write_together(
    conn: sqlite3.Connection, batch: list[_Request], after_insert: _Hook | None
) -> tuple[_Outcomes, _Touched]:
    """Every request of ``batch`` in order, without savepoints; consecutive appends as one.
    Raises at the first failure (the caller rolls back and uses :func:`_write_apart`), and
    after the inserts when the ``after_insert`` test seam raises."""
    outcomes: _Outcomes = []
    touched = _Touched()
    i = 0
    while i < len(batch):
        request = batch[i]
        if request.op is not None:
            outcomes.append((request, request.op(conn, touched), None))
            i += 1
            continue
        group = [request]
        i += 1
        while i < len(batch) and batch[i].op is None:
            group.append(batch[i])
            i += 1
        if len(group) == 1:
            outcomes.append((request, _append_new(conn, request.items or (), touched), None))
            continue
        stored = _append_new(conn, [item for r in group for item in r.items or ()], touched)
        start = 0
        for member in group:
            end = start + len(member.items or ())
            outcomes.append((member, stored[start:end], None))
            start = end
    if after_insert is not None and touched:
        after_insert()
    return outcomes, touched


def _write_apart(
    conn: sqlite3.Connection, batch: list[_Request], after_insert: _Hook | None
) -> tuple[_Outcomes, _Touched]:
    """Every request of ``batch`` in its own savepoint: a failing one is rolled back alone
    (as is one that inserted events when the ``after_insert`` test seam raises)."""
    outcomes: _Outcomes = []
    wake = _Touched()
    for request in batch:
        touched = _Touched()
        conn.execute("SAVEPOINT asm_request")
        try:
            result = request.run(conn, touched)
            if after_insert is not None and touched:
                after_insert()
        except Exception as exc:
            conn.execute("ROLLBACK TO asm_request")
            conn.execute("RELEASE asm_request")
            if isinstance(exc, sqlite3.Error):
                outcomes.append((request, None, storage_error(SQLITE_ERRORS, exc, "write")))
            else:
                outcomes.append((request, None, exc))
        else:
            conn.execute("RELEASE asm_request")
            outcomes.append((request, result, None))
            wake.merge(touched)
    return outcomes, wake


def _data_version(conn: sqlite3.Connection) -> int:
    """Changes whenever *another* connection commits to the file (never for our own commits)."""
    version: int = conn.execute("PRAGMA data_version").fetchone()[0]
    return version


def _resolve_all(items: list[tuple[_Request, Any, BaseException | None]]) -> None:
    for request, result, error in items:
        future = request.future
        if future.done():  # the caller was cancelled; the write (if any) stays committed
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
