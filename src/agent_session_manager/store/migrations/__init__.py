"""Versioned schema migrations (Alembic) for the SQL session stores, driven from Python.

``upgrade_to_head(url)`` brings any SQLAlchemy URL to :data:`HEAD_REVISION`; it refuses a
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

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import URL, Connection

logger = logging.getLogger(__name__)

#: The newest revision this code knows; a database at it needs no migration.
HEAD_REVISION = "0001"
#: Every revision this code knows, oldest first (a database at any of them can be upgraded).
KNOWN_REVISIONS: tuple[str, ...] = ("0001",)
#: Folder holding ``env.py`` and ``versions/``.
SCRIPT_LOCATION = Path(__file__).resolve().parent

#: Seconds a migration waits for another writer (or another process migrating) to finish.
_LOCK_TIMEOUT_S = 30.0


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
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    sa_url = make_url(url)
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
            current = MigrationContext.configure(connection).get_current_revision()
            check_known_revision(current)
            if current == HEAD_REVISION:
                return
            logger.info("migrating %s from %s to %s", sa_url.render_as_string(), current, "head")
            command.upgrade(alembic_config(connection=connection), "head")
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
