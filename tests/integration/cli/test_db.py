"""``asm db upgrade`` in a real subprocess: SQLite and PostgreSQL, up to date, and fail-closed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_session_manager.store.migrations import HEAD_REVISION
from agent_session_manager.testing.postgres import postgres_url_or_skip, temporary_database
from tests.integration.cli.conftest import CLI


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with temporary_database(postgres_url_or_skip(), prefix="asm_pg_cli") as url:
        yield url


def test_upgrade_creates_and_then_keeps_a_sqlite_store(cli: CLI, tmp_path: Path) -> None:
    first = cli.run("db", "upgrade")  # the store of $ASM_STORE
    assert first.code == 0, first.stderr
    assert first.stdout.strip() == HEAD_REVISION
    assert f"from an empty database to {HEAD_REVISION}" in first.stderr
    again = cli.run("db", "upgrade", "--store", cli.store_url)
    assert again.code == 0, again.stderr
    assert again.stdout.strip() == HEAD_REVISION
    assert "already at revision" in again.stderr
    with sqlite3.connect(tmp_path / "asm.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (HEAD_REVISION,)
        ]
    conn.close()
    assert cli.json("sessions", "list") == []  # the store opens normally afterwards


def test_upgrade_refuses_a_newer_sqlite_schema(cli: CLI, tmp_path: Path) -> None:
    assert cli.run("db", "upgrade").code == 0
    with sqlite3.connect(tmp_path / "asm.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_newer'")
    conn.close()
    result = cli.run("db", "upgrade")
    assert result.code == 1
    result.assert_one_error_line("newer than this code")
    assert result.stdout == ""


def test_upgrade_rejects_a_memory_store(cli: CLI) -> None:
    result = cli.run("db", "upgrade", "--store", "memory://")
    assert result.code == 2
    result.assert_one_error_line("no schema")


def test_upgrade_migrates_a_postgres_database(cli: CLI, postgres_url: str) -> None:
    first = cli.run("--store", postgres_url, "db", "upgrade")
    assert first.code == 0, first.stderr
    assert first.stdout.strip() == HEAD_REVISION
    assert "from an empty database" in first.stderr
    again = cli.run("db", "upgrade", "--store", postgres_url)
    assert again.code == 0, again.stderr
    assert "already at revision" in again.stderr
    created = cli.run("--store", postgres_url, "sessions", "create")
    assert created.code == 0, created.stderr
    assert [s["id"] for s in cli.json("--store", postgres_url, "sessions", "list")] == [
        created.stdout.strip()
    ]
