"""PostgreSQL helpers for tests: find the server, make a throw-away database, empty it.

``postgres_url_or_skip()`` returns the server URL (``$ASM_TEST_POSTGRES_URL``, default
``postgresql://127.0.0.1:5432/test``) when a server answers there; otherwise it skips the test
with the reason, or fails it when ``CI`` is true (a CI job that was meant to test PostgreSQL must
not pass silently without it). ``temporary_database(url)`` creates a database with a unique name
next to the one in ``url``, yields its URL and drops it afterwards; ``reset_database(url)`` empties
the store tables between tests. Each helper is synchronous and usable from sync or async code
(it runs its own event loop in a worker thread). It knows asyncpg and pytest, nothing about how
the store works beyond its table names.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest

from agent_session_manager.store.urls import hide_password

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "POSTGRES_URL_ENV",
    "STORE_TABLES",
    "in_ci",
    "postgres_server_url",
    "postgres_url_or_skip",
    "reset_database",
    "temporary_database",
    "with_database",
]

_T = TypeVar("_T")

#: Environment variable naming the PostgreSQL server the tests use.
POSTGRES_URL_ENV = "ASM_TEST_POSTGRES_URL"
#: Used when the variable is not set: the local server with trust authentication.
DEFAULT_POSTGRES_URL = "postgresql://127.0.0.1:5432/test"
#: Tables of the session store schema, children first.
STORE_TABLES = ("asm_events", "asm_runs", "asm_session_sequences", "asm_sessions")

_CONNECT_TIMEOUT_S = 5.0


def in_ci() -> bool:
    """True when ``$CI`` says this is a CI run (then missing services fail tests)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def postgres_server_url() -> str:
    return os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL


def postgres_url_or_skip() -> str:
    """The server URL if a PostgreSQL server answers; else skip (or fail under ``CI=true``)."""
    url = postgres_server_url()
    problem = _run(_probe(url))
    if problem is not None:
        reason = (
            f"PostgreSQL is not reachable at {hide_password(url)} ({problem}); set "
            f"{POSTGRES_URL_ENV} to a server where this user may create databases"
        )
        if in_ci():
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    return url


@contextlib.contextmanager
def temporary_database(server_url: str | None = None, *, prefix: str = "asm_test") -> Iterator[str]:
    """Create a uniquely named database on the server of ``server_url``; yield its URL; drop it."""
    server_url = server_url or postgres_server_url()
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    _run(_execute(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(server_url, name)
    finally:
        _run(_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def reset_database(url: str) -> None:
    """Delete every session, run and event (the schema and its revision stay)."""
    tables = ", ".join(STORE_TABLES)
    _run(_execute(url, f"TRUNCATE {tables}"))


async def _probe(url: str) -> str | None:
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed"
    try:
        conn = await asyncpg.connect(_dsn(url), timeout=_CONNECT_TIMEOUT_S)
    except Exception as exc:  # any failure to connect means "not reachable", with its reason
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


async def _execute(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_dsn(url), timeout=_CONNECT_TIMEOUT_S)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _dsn(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"postgresql://{rest}" if scheme.lower().startswith("postgres") else url


def _run(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` on a fresh event loop in a worker thread (safe inside a running loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
