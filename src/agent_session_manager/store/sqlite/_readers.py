"""The SQLite store's reader threads, each with its own ``query_only`` connection.

A read is a function of a connection, run on one of a few threads and handed back to the
caller's event loop, so no read ever blocks the loop and WAL lets reads proceed while the
writer commits. It knows threads and connections; nothing about what a read selects.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from agent_session_manager.store.sql.errors import read_error, storage_error
from agent_session_manager.store.sqlite._open import _connect
from agent_session_manager.store.sqlite._ops import SQLITE_ERRORS

#: Read connections (and reader threads).
READERS: Final = 4


class _Readers:
    """Reader threads, each with its own ``query_only`` connection (opened on first use).

    Cheaper per read than ``run_in_executor`` (one queue put, one ``call_soon_threadsafe``):
    a read of 100 events is a few hundred microseconds, so the hand-off matters.
    """

    def __init__(self, path: Path, count: int) -> None:
        self._path = path
        self._queue: queue.SimpleQueue[tuple[Callable[[sqlite3.Connection], Any], Any] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._open = True
        self._connections: list[sqlite3.Connection] = []
        self._threads = [
            threading.Thread(target=self._main, name=f"asm-sqlite-reader-{i}", daemon=True)
            for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[[sqlite3.Connection], Any], future: asyncio.Future[Any]) -> bool:
        """Queue ``fn``; False once the readers are stopping (it would never run)."""
        with self._lock:
            if not self._open:
                return False
            self._queue.put((fn, future))
            return True

    def stop(self) -> None:
        """Let the queued reads finish, stop the threads, close their connections (blocking)."""
        with self._lock:
            self._open = False
            for _ in self._threads:
                self._queue.put(None)
        for thread in self._threads:
            thread.join()
        # One after the other, so the last one removes the WAL files (closing them at once from
        # several threads can leave them behind, harmless but untidy).
        for conn in self._connections:
            conn.close()
        self._connections.clear()

    def _main(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while (item := self._queue.get()) is not None:
                fn, future = item
                result: Any = None
                error: BaseException | None = None
                try:
                    if conn is None:
                        conn = self._connect()
                    result = fn(conn)
                except sqlite3.Error as exc:
                    error = read_error(SQLITE_ERRORS, exc)
                except Exception as exc:
                    error = exc
                # RuntimeError: the caller's loop is closed, nobody waits for the result.
                with contextlib.suppress(RuntimeError):
                    future.get_loop().call_soon_threadsafe(_resolve_read, future, result, error)
        finally:
            if conn is not None:
                with self._lock:
                    self._connections.append(conn)

    def _connect(self) -> sqlite3.Connection:
        try:
            return _connect(self._path, query_only=True)
        except sqlite3.Error as exc:
            raise storage_error(SQLITE_ERRORS, exc, "open a read connection") from exc


def _resolve_read(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the reader was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
