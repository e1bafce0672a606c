"""Opening a SQLite store file: connections, the schema revision check, WAL, migration.

``_prepare`` creates the file (and its folders), refuses a schema written by newer code before
changing anything, switches the file to WAL, migrates an older or missing schema with Alembic
(imported only then) and sets the writer connection's pragmas; ``read_revision`` reads the
revision with plain ``sqlite3``. It knows files, pragmas and revisions; nothing about the
writer, the readers or the store's operations.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Final

from agent_session_manager.core.errors import StorageError
from agent_session_manager.store.sql.migrations import (
    HEAD_REVISION,
    check_known_revision,
    single_revision,
)
from agent_session_manager.store.sqlite._checkpointer import SAFETY_AUTOCHECKPOINT_PAGES

logger = logging.getLogger(__name__)

#: How long a writer waits for another process holding the write lock (milliseconds).
BUSY_TIMEOUT_MS: Final = 30_000
#: The WAL file is cut back to this many bytes after a checkpoint (``_checkpointer.py``
#: says when checkpoints run: on their own thread, every ~10,000 pages).
WAL_SIZE_LIMIT: Final = 64 * 1024 * 1024


def _connect(path: Path, *, query_only: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,  # we issue BEGIN/COMMIT ourselves
        check_same_thread=False,  # handed to the thread that owns it, never shared at once
        cached_statements=256,
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if query_only:
        conn.execute("PRAGMA query_only = ON")
    return conn


def read_revision(path: Path) -> str | None:
    """The Alembic revision of the SQLite file at ``path`` (``None`` without one), read with
    plain ``sqlite3``; fails closed on several heads (``migrations.single_revision``)."""
    with _closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)) as conn:
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).fetchone()
        if has_table is None:
            return None
        rows = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
    return single_revision(rows)


class _closing:
    """``contextlib.closing`` for a connection (sqlite3's own ``with`` only commits)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc_info: object) -> None:
        self.conn.close()


def _create_private(path: Path) -> None:
    """Create a missing store folder (0700) and database file (0600) for its owner alone: the log
    holds prompts and agent output. SQLite gives the WAL and shared-memory files the database
    file's permissions. Existing folders and files keep theirs."""
    if not path.parent.is_dir():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _prepare(where: str | os.PathLike[str]) -> tuple[Path, sqlite3.Connection]:
    """Create the file, check and migrate its schema; return its path and the writer connection."""
    path = Path(where).expanduser().absolute()
    try:
        _create_private(path)
        revision = read_revision(path)
        check_known_revision(revision)  # fail closed before changing anything
        conn = _connect(path)
        try:
            _enable_wal(conn, path)
            if revision != HEAD_REVISION:
                _migrate(path)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_AUTOCHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA temp_store = MEMORY")
        except BaseException:
            conn.close()
            raise
        return path, conn
    except sqlite3.Error as exc:
        raise open_error(path, exc) from exc
    except OSError as exc:
        raise open_error(path, exc, doing="create") from exc


def open_error(path: Path, exc: BaseException, *, doing: str = "open") -> StorageError:
    """The store at ``path`` could not be opened (or its folder created): always
    ``storage_connection_failed``, naming the file rather than the driver (the one thing the
    caller can fix); the shared write/read mapping is ``store/sql/errors.py``."""
    error = StorageError(
        f"cannot {doing} SQLite store at {path}: {exc}",
        code="storage_connection_failed",
        details={"path": str(path)},
    )
    error.__cause__ = exc
    return error


def _enable_wal(conn: sqlite3.Connection, path: Path) -> None:
    """Switch the file to WAL (persistent; a no-op once done).

    Leaving rollback-journal mode needs an exclusive lock, and SQLite answers "locked" at once,
    without its busy handler, while another connection is mid-write on a brand-new file (two
    processes creating the store together); so retry until the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    if str(mode).lower() != "wal":
        logger.warning("SQLite at %s refused WAL mode (journal mode is %s)", path, mode)


def _migrate(path: Path) -> None:
    from sqlalchemy import URL

    from agent_session_manager.store.sql.migrations import upgrade_to_head

    upgrade_to_head(URL.create("sqlite", database=str(path)))
