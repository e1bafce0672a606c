"""``asm db upgrade`` and ``asm db stats`` in a real subprocess: SQLite and PostgreSQL, up to
date, fail-closed, and what a store holds."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_session_manager.store.sql.migrations import HEAD_REVISION
from agent_session_manager.testing.postgres import postgres_url_or_skip, temporary_database
from tests.support.asm_cli import CLI
from tests.support.maintenance_data import sqlite_pages


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


def test_stats_of_a_sqlite_store(cli: CLI, tmp_path: Path) -> None:
    first = cli.run("sessions", "create").stdout.strip()
    second = cli.run("sessions", "create").stdout.strip()
    events = sum(_event_count(cli, s) for s in (first, second))
    stats = cli.json("db", "stats")
    assert stats["store"] == f"sqlite:///{tmp_path / 'asm.db'}"
    assert (stats["backend"], stats["sessions"], stats["runs"]) == ("sqlite", 2, 0)
    assert stats["events"] == events > 0
    assert stats["stored_bytes"] == sqlite_pages(tmp_path / "asm.db")[0]
    assert stats["bytes_per_event"] == stats["stored_bytes"] / events
    text = cli.run("db", "stats")
    assert text.code == 0, text.stderr
    lines = dict(line.split(None, 1) for line in text.stdout.splitlines() if line.strip())
    assert lines["sessions"] == "2"
    assert lines["events"] == str(events)
    assert f"({stats['stored_bytes']:,} B)" in lines["stored"]


def test_stats_of_a_memory_store_have_no_byte_figure(cli: CLI) -> None:
    stats = cli.json("db", "stats", "--store", "memory://")
    assert stats["sessions"] == stats["events"] == 0
    assert stats["stored_bytes"] is None
    assert stats["bytes_per_event"] is None
    text = cli.run("db", "stats", "--store", "memory://")
    assert text.code == 0, text.stderr
    assert "stored     -" in text.stdout


def test_stats_of_a_postgres_database(cli: CLI, postgres_url: str) -> None:
    created = cli.run("--store", postgres_url, "sessions", "create")
    assert created.code == 0, created.stderr
    stats = cli.json("--store", postgres_url, "db", "stats")
    assert (stats["backend"], stats["sessions"], stats["runs"]) == ("postgresql", 1, 0)
    assert stats["events"] == _event_count(cli, created.stdout.strip(), postgres_url)
    assert stats["stored_bytes"] > 0


def _event_count(cli: CLI, session_id: str, store: str | None = None) -> int:
    where = ["--store", store] if store else []
    listed = cli.run(*where, "events", session_id, "--format", "jsonl")
    assert listed.code == 0, listed.stderr
    return len(listed.stdout.splitlines())
