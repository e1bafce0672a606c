"""Versioned schema migrations (Alembic) for the SQL session stores, driven from Python.

``upgrade_to_head(url)`` brings a SQLite or PostgreSQL URL to :data:`HEAD_REVISION`; it refuses a
database whose revision this code does not know (a newer release wrote it) with
``StorageError(code="schema_too_new")`` and changes nothing. No ``alembic.ini`` is needed: the
configuration is built in code with ``script_location`` pointing at this package. Importing this
package is cheap (SQLAlchemy and Alembic are imported only when a migration runs), so stores can
compare revisions on open without paying for them. It knows revision ids and how to run Alembic,
nothing about how a store reads or writes rows.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_session_manager.core.errors import StorageError
from agent_session_manager.store.urls import hide_password

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import URL, Connection

__all__ = [
    "HEAD_REVISION",
    "KNOWN_REVISIONS",
    "SCRIPT_LOCATION",
    "alembic_config",
    "check_known_revision",
    "postgres_revision",
    "render_postgres_sql",
    "single_revision",
    "upgrade",
    "upgrade_postgres",
    "upgrade_to_head",
]

logger = logging.getLogger(__name__)

#: The newest revision this code knows; a database at it needs no migration.
HEAD_REVISION = "0002"
#: Every revision this code knows, oldest first (a database at any of them can be upgraded).
KNOWN_REVISIONS: tuple[str, ...] = ("0001", "0002")
#: Folder holding ``env.py`` and ``versions/``.
SCRIPT_LOCATION = Path(__file__).resolve().parent

#: Seconds a migration waits for another writer (or another process migrating) to finish.
_LOCK_TIMEOUT_S = 30.0
#: Advisory lock taken by PostgreSQL migrations (any fixed 64-bit number; "asm" in ASCII).
_PG_LOCK_KEY = 0x61736D


def check_known_revision(revision: str | None) -> None:
    """Raise ``schema_too_new`` if ``revision`` was written by a newer release of this code."""
    if revision is not None and revision not in KNOWN_REVISIONS:
        raise StorageError(
            f"the database schema is at revision {revision!r}, newer than this code "
            f"(head {HEAD_REVISION!r}); upgrade agent-session-manager to open it",
            code="schema_too_new",
            details={"revision": revision, "head": HEAD_REVISION},
        )


def alembic_config(url: str | URL | None = None, connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for our migrations (used by ``upgrade_to_head`` and ``asm db``)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    if url is not None:
        rendered = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_to_head(url: str | URL) -> None:
    """Migrate the database at ``url`` to :data:`HEAD_REVISION` in one transaction.

    On SQLite the transaction starts with ``BEGIN IMMEDIATE``, so two processes opening a new
    file at once migrate it once: the second waits for the first, then finds nothing to do.
    A PostgreSQL URL (``postgresql://…``) is migrated through asyncpg (see
    :func:`upgrade_postgres`) on an event loop of its own, in a worker thread; from async code
    prefer ``await upgrade_postgres(dsn)``.
    """
    upgrade(url, "head")


def upgrade(url: str | URL, target: str = "head") -> None:
    """Migrate the database at ``url`` to the revision ``target`` (default: head).

    Fails closed (``schema_too_new``) on a revision this code does not know, changing nothing.
    Tests use an older ``target`` to build a database as an earlier release left it.
    """
    from sqlalchemy.engine import make_url

    sa_url = make_url(url)
    if sa_url.get_backend_name() == "postgresql":
        import asyncio
        import concurrent.futures

        rendered = sa_url.set(drivername="postgresql").render_as_string(hide_password=False)
        # Its own event loop, in a worker thread (this may be called while a loop runs).
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, upgrade_postgres(rendered, target)).result()
        return
    _upgrade_sqlalchemy(sa_url, target)


def _upgrade_sqlalchemy(sa_url: URL, target: str) -> None:
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    is_sqlite = sa_url.get_backend_name() == "sqlite"
    connect_args: dict[str, Any] = {"timeout": _LOCK_TIMEOUT_S} if is_sqlite else {}
    engine = create_engine(sa_url, poolclass=NullPool, connect_args=connect_args)
    if is_sqlite:
        # pysqlite's own transaction handling would defer BEGIN and commit before DDL; take the
        # write lock up front instead so the revision check and the DDL are one atomic step.
        @event.listens_for(engine, "connect")
        def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with engine.begin() as connection:
            _upgrade_on(connection, target, sa_url.render_as_string())
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(
            f"schema migration failed: {exc}",
            code="storage_write_failed",
            details={"url": sa_url.render_as_string()},
        ) from exc
    finally:
        engine.dispose()


def _upgrade_on(connection: Connection, target: str, where: str) -> None:
    """Check the revision and upgrade inside the caller's transaction."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    current = MigrationContext.configure(connection).get_current_revision()
    check_known_revision(current)
    if current == HEAD_REVISION or (target != "head" and current == target):
        return
    logger.info("migrating %s from %s to %s", where, current, target)
    command.upgrade(alembic_config(connection=connection), target)


async def upgrade_postgres(dsn: str, target: str = "head") -> None:
    """Migrate the PostgreSQL database at ``dsn`` (an asyncpg ``postgresql://`` DSN).

    Alembic renders the upgrade as SQL for the PostgreSQL dialect (its offline mode, so no second
    driver is needed) and asyncpg runs it in one transaction that first takes a
    transaction-level advisory lock and re-reads the revision: processes opening a new database
    at once migrate it once; the others wait, then find nothing to do. Migrations must therefore
    be expressible as SQL (``op.*`` and ``op.execute``), not Python reading rows back.
    """
    import asyncio

    import asyncpg

    where = hide_password(dsn)
    try:
        conn = await asyncpg.connect(dsn, timeout=_LOCK_TIMEOUT_S)
    except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
        raise StorageError(
            f"cannot connect to PostgreSQL to migrate it: {exc}",
            code="storage_connection_failed",
            details={"url": where},
        ) from exc
    try:
        async with conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
            current = await postgres_revision(conn)
            check_known_revision(current)
            if current == HEAD_REVISION or (target != "head" and current == target):
                return
            logger.info("migrating %s from %s to %s", where, current, target)
            script = await asyncio.to_thread(render_postgres_sql, current, target)
            await conn.execute(script)
    except StorageError:
        raise
    except (asyncpg.PostgresError, OSError) as exc:
        raise StorageError(
            f"schema migration failed: {exc}",
            code="storage_write_failed",
            details={"url": where},
        ) from exc
    finally:
        await conn.close()


async def postgres_revision(conn: Any) -> str | None:
    """The Alembic revision of a PostgreSQL database (an asyncpg connection), ``None`` if none
    (see :func:`single_revision`)."""
    if await conn.fetchval("SELECT to_regclass('alembic_version')") is None:
        return None
    return single_revision(
        [str(r[0]) for r in await conn.fetch("SELECT version_num FROM alembic_version")]
    )


def single_revision(rows: list[str]) -> str | None:
    """The revision held by ``alembic_version``'s rows: ``None`` if empty; several rows
    (branches this code never makes) count as newer than this code."""
    if len(rows) > 1:
        raise StorageError(
            f"the database has several schema heads {rows!r}; this code knows one",
            code="schema_too_new",
            details={"revisions": rows, "head": HEAD_REVISION},
        )
    return rows[0] if rows else None


def render_postgres_sql(current: str | None, target: str = "head") -> str:
    """The SQL that takes a PostgreSQL database from ``current`` to ``target`` (no BEGIN/COMMIT)."""
    import io

    from alembic import command

    buffer = io.StringIO()
    config = alembic_config("postgresql://")
    config.output_buffer = buffer
    config.attributes["transactional_ddl"] = False
    command.upgrade(config, f"{current}:{target}" if current else target, sql=True)
    return buffer.getvalue()
