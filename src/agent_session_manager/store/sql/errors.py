"""How both SQL stores turn a driver's exception into our :class:`StorageError`, written once.

Callers branch on the code, so both stores must say the same thing for the same failure: a write
that could not reach the database (the connection is gone, or SQLite's write lock stayed taken)
is ``storage_connection_failed`` (retryable); any other failed write is ``storage_write_failed``;
a failed read, and any call on a closed store, is ``storage_error``. The message names the
backend ("SQLite failed to commit: …") and ``details`` names the driver's exception class under
the backend's key (``sqlite_error`` / ``postgres_error``). What differs between the backends is
data, a :class:`SQLErrors` value each store builds once: its name, that key, and which driver
exceptions mean the connection failed. Opening a store is not mapped here: SQLite reports the
file it could not open and PostgreSQL must not show its DSN, so each store words that itself.
It knows our errors only; nothing about either driver (the backend passes its own test in).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent_session_manager.core.errors import StorageError

__all__ = ["SQLErrors", "closed_error", "read_error", "storage_error"]


@dataclass(frozen=True, slots=True)
class SQLErrors:
    """What one SQL backend's errors say: ``name`` in messages ("SQLite"), ``detail_key`` for
    the driver's exception class in ``details`` ("sqlite_error"), and ``connection_failed``,
    true for the driver exceptions that mean the database could not be reached or locked (so
    retrying may succeed) rather than that it refused the write."""

    name: str
    detail_key: str
    connection_failed: Callable[[BaseException], bool]


def storage_error(backend: SQLErrors, exc: BaseException, doing: str) -> StorageError:
    """A failed write (or write connection): ``"<name> failed to <doing>: <exc>"``, coded
    ``storage_connection_failed`` when ``backend.connection_failed(exc)``, else
    ``storage_write_failed``; ``exc`` is its ``__cause__``."""
    lost = backend.connection_failed(exc)
    error = StorageError(
        f"{backend.name} failed to {doing}: {exc}",
        code="storage_connection_failed" if lost else "storage_write_failed",
        details={backend.detail_key: type(exc).__name__},
    )
    error.__cause__ = exc
    return error


def read_error(backend: SQLErrors, exc: BaseException) -> StorageError:
    """A failed read: ``storage_error`` (a read changes nothing, so there is no write to
    report); ``exc`` is its ``__cause__``."""
    error = StorageError(
        f"{backend.name} read failed: {exc}",
        code="storage_error",
        details={backend.detail_key: type(exc).__name__},
    )
    error.__cause__ = exc
    return error


def closed_error(backend: SQLErrors) -> StorageError:
    """A call on a store that is closed (or closing)."""
    return StorageError(f"the {backend.name} session store is closed", code="storage_error")
