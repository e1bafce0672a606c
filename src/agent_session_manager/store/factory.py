"""Open a session store from a URL: ``memory://``, ``sqlite:///path.db``, a bare file path or
``postgresql://…``.

``open_store()`` with no argument reads ``ASM_STORE`` and falls back to one SQLite file in the
user's data folder (:func:`default_store_url`). Backends are imported only when chosen, so naming
one never costs the import of another. It knows URL spellings and which class serves each;
nothing about how any backend stores data.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent_session_manager.core.errors import ValidationError
from agent_session_manager.core.extras import install_hint
from agent_session_manager.store.protocol import SessionStore

__all__ = ["STORE_ENV_VAR", "SUPPORTED_SCHEMES", "default_store_url", "open_store", "upgrade_store"]

#: Environment variable naming the store URL when none is passed.
STORE_ENV_VAR = "ASM_STORE"
#: Spellings ``open_store`` understands.
SUPPORTED_SCHEMES = (
    "memory://",
    "sqlite:///<path>",
    "<filesystem path>",
    "postgresql://<user>@<host>/<db>",
)

_POSTGRES_SCHEMES = ("postgresql", "postgres")


def default_store_url() -> str:
    """``sqlite:///<user data dir>/asm.db`` (e.g. ``~/.local/share/agent-session-manager``)."""
    import platformdirs

    folder = Path(platformdirs.user_data_dir("agent-session-manager"))
    return f"sqlite:///{folder / 'asm.db'}"


async def open_store(url: str | None = None) -> SessionStore:
    """Open the store named by ``url`` (default: ``$ASM_STORE``, else :func:`default_store_url`).

    * ``memory://`` — an :class:`InMemorySessionStore` (nothing persists);
    * ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` — a SQLite file
      (created with its folders if missing; SQLAlchemy's spelling);
    * anything without ``://`` — a filesystem path to a SQLite file (``~`` is expanded);
    * ``postgresql://user:password@host:port/db`` (also ``postgres://`` and
      ``postgresql+asyncpg://``) — a :class:`PostgresSessionStore` (needs ``asyncpg``).

    Anything else raises :class:`ValidationError` listing the supported spellings.
    """
    kind, where, url = _parse(url)
    if kind == "memory":
        if where:
            raise ValidationError(f"memory:// takes no path or options, got {url!r}")
        from agent_session_manager.store.memory import InMemorySessionStore

        return InMemorySessionStore()
    if kind == "sqlite":
        return await _open_sqlite(where)
    return await _open_postgres(where)


def _parse(url: str | None) -> tuple[str, str, str]:
    """``(kind, where, url)`` for a store URL (``None``: ``$ASM_STORE``, else the default): kind
    ``memory`` (where: what follows ``memory://``), ``sqlite`` (where: the file path) or
    ``postgresql`` (where: the URL); anything else raises :class:`ValidationError`."""
    if url is None:
        url = os.environ.get(STORE_ENV_VAR) or default_store_url()
    if not isinstance(url, str) or not url.strip():
        raise ValidationError(f"store URL must be a non-empty string, got {url!r}")
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "sqlite", url, url
    base = scheme.lower().partition("+")[0]
    if base == "memory":
        return "memory", rest, url
    if base == "sqlite":
        return "sqlite", _sqlite_path(url, rest), url
    if base in _POSTGRES_SCHEMES:
        return "postgresql", url, url
    raise ValidationError(
        f"unsupported store URL scheme {scheme!r}; supported: {', '.join(SUPPORTED_SCHEMES)}",
        details={"scheme": scheme, "supported": list(SUPPORTED_SCHEMES)},
    )


def _sqlite_path(url: str, rest: str) -> str:
    # SQLAlchemy's spelling: sqlite:///relative.db, sqlite:////absolute.db (empty host part).
    if not rest.startswith("/") or rest == "/":
        raise ValidationError(
            f"a SQLite URL needs a file path: sqlite:///relative.db or sqlite:////abs.db, "
            f"got {url!r}"
        )
    path = rest[1:]
    if "?" in path or path in (":memory:", ""):
        raise ValidationError(
            f"SQLite store URLs take a plain file path (no ':memory:', no options), got {url!r}"
        )
    return path


async def _open_sqlite(path: str) -> SessionStore:
    from agent_session_manager.store.sqlite import SQLiteSessionStore

    return await SQLiteSessionStore.open(path)


async def _open_postgres(url: str) -> SessionStore:
    with install_hint("the PostgreSQL store"):
        from agent_session_manager.store.postgres import PostgresSessionStore
    return await PostgresSessionStore.open(url)


async def upgrade_store(url: str | None = None) -> tuple[str | None, str]:
    """Migrate the SQL store named by ``url`` (as for :func:`open_store`) to the newest schema.

    Returns ``(revision before, revision now)``; ``None`` before means a new, empty database.
    Fails closed with ``StorageError(code="schema_too_new")`` on a database written by a newer
    release. ``memory://`` has no schema and raises :class:`ValidationError`.
    """
    kind, where, _ = _parse(url)
    if kind == "postgresql":
        with install_hint("the PostgreSQL store"):
            from agent_session_manager.store.postgres import asyncpg_dsn, prepare_schema
        return await prepare_schema(asyncpg_dsn(where))
    if kind == "sqlite":
        return await _upgrade_sqlite(where)
    raise ValidationError("memory:// stores have no schema to upgrade")


async def _upgrade_sqlite(path: str) -> tuple[str | None, str]:
    import asyncio
    import sqlite3

    from agent_session_manager.store.sql.migrations import HEAD_REVISION
    from agent_session_manager.store.sqlite import read_revision

    def revision() -> str | None:
        file = Path(path).expanduser()
        if not file.exists():
            return None
        try:
            return read_revision(file)
        except sqlite3.Error:
            return None  # opening the store below reports it properly

    before = await asyncio.to_thread(revision)
    store = await _open_sqlite(path)  # opening migrates (and fails closed on a newer schema)
    await store.close()
    return before, HEAD_REVISION
