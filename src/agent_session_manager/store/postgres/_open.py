"""Opening a PostgreSQL store: the DSN, connections and the schema check before use.

``prepare_schema`` reads the Alembic revision with plain asyncpg, refuses a schema written by
newer code, and migrates an older or missing one (Alembic imported only then); ``_connect``
opens a connection with the session settings of its role (reader or writer). It knows DSNs,
connection settings and revisions; nothing about the writers, the listener or the operations.
"""

from __future__ import annotations

from typing import Final

import asyncpg

from agent_session_manager.core.errors import StorageError, ValidationError
from agent_session_manager.store.sql.migrations import (
    HEAD_REVISION,
    check_known_revision,
    postgres_revision,
)

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
        raise connect_error(exc) from exc
    return conn


def connect_error(exc: BaseException) -> StorageError:
    """No connection to the server: always ``storage_connection_failed``. The message leaves
    the DSN out (it may hold a password); the shared write/read mapping is
    ``store/sql/errors.py``."""
    error = StorageError(
        f"cannot connect to PostgreSQL: {exc}",
        code="storage_connection_failed",
        details={"postgres_error": type(exc).__name__},
    )
    error.__cause__ = exc
    return error


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


def asyncpg_dsn(url: str) -> str:
    """The asyncpg spelling of a store URL (``postgresql+asyncpg://`` → ``postgresql://``)."""
    scheme, sep, rest = url.partition("://")
    base = scheme.lower().partition("+")[0]
    if not sep or base not in ("postgresql", "postgres"):
        raise ValidationError(f"not a PostgreSQL URL: {url!r}")
    return f"postgresql://{rest}"
