"""WAL checkpoints for the SQLite store, on their own thread, so that no commit waits for one.

SQLite's automatic checkpoint runs inside the ``COMMIT`` that crosses its threshold: that commit
copies the whole WAL into the database file and syncs it (~30 ms for 10,000 pages on our
benchmark machine) while every append queued behind it waits. Here the writer only counts the
pages it dirtied and asks; this thread runs a ``PASSIVE`` checkpoint on its own connection, which
never blocks writers or readers, while the writer goes on committing. SQLite's automatic
checkpoint stays on, at a higher threshold, as a safety net should this thread fall behind.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Final

logger = logging.getLogger(__name__)

#: Pages the writer dirties (by its estimate) before it asks for a checkpoint.
CHECKPOINT_PAGES: Final = 10_000
#: SQLite's own automatic checkpoint on the writer connection, only reached if the checkpoint
#: thread falls behind (or cannot work).
SAFETY_AUTOCHECKPOINT_PAGES: Final = 4 * CHECKPOINT_PAGES


class Checkpointer:
    """A thread that runs ``PRAGMA wal_checkpoint(PASSIVE)`` when asked.

    ``connect`` opens its connection, on the thread, at the first checkpoint. Requests made
    while a checkpoint runs are merged into one more checkpoint after it.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], name: str) -> None:
        self._connect = connect
        self._wanted = threading.Event()
        self._stopping = False
        #: Checkpoints run (tests wait for it).
        self.checkpoints = 0
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for a checkpoint (returns at once)."""
        self._wanted.set()

    def stop(self) -> None:
        """Finish a running checkpoint, stop the thread and close its connection (blocking)."""
        self._stopping = True
        self._wanted.set()
        self._thread.join()

    def _main(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._stopping:
                    return
                try:
                    if conn is None:
                        conn = self._connect()
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # the writer's safety-net checkpoint takes over
                    logger.warning("background WAL checkpoint failed: %s", exc)
        finally:
            if conn is not None:
                conn.close()
