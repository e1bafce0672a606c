"""``store/sql/errors.py``: one mapping of driver errors for both SQL stores, with the codes,
messages and ``details`` keys callers branch on, and each store's own idea of a lost connection."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

from agent_session_manager import StorageError
from agent_session_manager.store.postgres._ops import POSTGRES_ERRORS
from agent_session_manager.store.sql.errors import (
    SQLErrors,
    closed_error,
    read_error,
    storage_error,
)
from agent_session_manager.store.sqlite._ops import SQLITE_ERRORS

FLAKY = SQLErrors("FlakyDB", "flaky_error", connection_failed=lambda e: isinstance(e, OSError))


def test_a_failed_write_names_the_backend_the_step_and_the_driver_error() -> None:
    cause = ValueError("constraint violated")
    error = storage_error(FLAKY, cause, "commit")
    assert isinstance(error, StorageError)
    assert error.message == "FlakyDB failed to commit: constraint violated"
    assert error.code == "storage_write_failed"
    assert not error.retryable
    assert error.details == {"flaky_error": "ValueError"}
    assert error.__cause__ is cause


def test_a_failed_connection_is_the_retryable_code() -> None:
    error = storage_error(FLAKY, ConnectionResetError("reset by peer"), "write")
    assert error.code == "storage_connection_failed"
    assert error.retryable
    assert error.details == {"flaky_error": "ConnectionResetError"}


def test_a_failed_read_and_a_closed_store_are_plain_storage_errors() -> None:
    cause = OSError("gone")
    read = read_error(FLAKY, cause)
    assert (read.message, read.code, read.details) == (
        "FlakyDB read failed: gone",
        "storage_error",
        {"flaky_error": "OSError"},
    )
    assert read.__cause__ is cause
    closed = closed_error(FLAKY)
    assert (closed.message, closed.code, closed.details) == (
        "the FlakyDB session store is closed",
        "storage_error",
        {},
    )


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (sqlite3.OperationalError("database is locked"), "storage_connection_failed"),
        (sqlite3.OperationalError("disk I/O error"), "storage_write_failed"),
        (sqlite3.IntegrityError("UNIQUE constraint failed"), "storage_write_failed"),
    ],
)
def test_sqlite_counts_a_locked_database_as_a_failed_connection(
    exc: sqlite3.Error, code: str
) -> None:
    error = storage_error(SQLITE_ERRORS, exc, "write")
    assert error.code == code
    assert error.message == f"SQLite failed to write: {exc}"
    assert error.details == {"sqlite_error": type(exc).__name__}
    assert closed_error(SQLITE_ERRORS).message == "the SQLite session store is closed"


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (asyncpg.exceptions.AdminShutdownError("terminating"), "storage_connection_failed"),
        (asyncpg.exceptions.InterfaceError("connection is closed"), "storage_connection_failed"),
        (ConnectionResetError("reset"), "storage_connection_failed"),
        (asyncpg.exceptions.CheckViolationError("check failed"), "storage_write_failed"),
        (RuntimeError("race"), "storage_write_failed"),
    ],
)
def test_postgres_counts_a_lost_connection_as_a_failed_connection(
    exc: BaseException, code: str
) -> None:
    error = storage_error(POSTGRES_ERRORS, exc, "write")
    assert error.code == code
    assert error.message == f"PostgreSQL failed to write: {exc}"
    assert error.details == {"postgres_error": type(exc).__name__}
    assert closed_error(POSTGRES_ERRORS).message == "the PostgreSQL session store is closed"
