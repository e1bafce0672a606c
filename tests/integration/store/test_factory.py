"""``open_store``: which URL spellings open which store, and the errors for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_session_manager import (
    InMemorySessionStore,
    SessionStore,
    SQLiteSessionStore,
    StorageError,
    ValidationError,
    default_store_url,
    open_store,
    upgrade_store,
)
from agent_session_manager.store.factory import STORE_ENV_VAR
from agent_session_manager.store.sql.migrations import HEAD_REVISION


async def _sqlite_path(url: str | None) -> Path:
    store = await open_store(url)
    try:
        assert isinstance(store, SQLiteSessionStore)
        assert isinstance(store, SessionStore)
        assert store.path.exists()
        return store.path
    finally:
        await store.close()


async def test_sqlite_url_with_a_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert await _sqlite_path("sqlite:///data/rel.db") == tmp_path / "data" / "rel.db"


async def test_sqlite_url_with_an_absolute_path(tmp_path: Path) -> None:
    target = tmp_path / "abs" / "store.db"
    assert await _sqlite_path(f"sqlite:///{target}") == target
    assert str(target).startswith("/")  # so the URL above had four slashes


async def test_bare_paths_open_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert await _sqlite_path(str(tmp_path / "bare.db")) == tmp_path / "bare.db"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert await _sqlite_path("~/asm/home.db") == tmp_path / "home" / "asm" / "home.db"
    monkeypatch.chdir(tmp_path)
    assert await _sqlite_path("relative.db") == tmp_path / "relative.db"


async def test_none_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STORE_ENV_VAR, f"sqlite:///{tmp_path / 'from_env.db'}")
    assert await _sqlite_path(None) == tmp_path / "from_env.db"
    monkeypatch.setenv(STORE_ENV_VAR, "memory://")
    store = await open_store()
    assert isinstance(store, InMemorySessionStore)
    await store.close()


async def test_none_without_environment_uses_the_user_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(STORE_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    expected = tmp_path / "xdg" / "agent-session-manager" / "asm.db"
    assert default_store_url() == f"sqlite:///{expected}"
    assert await _sqlite_path(None) == expected


async def test_postgresql_urls_open_the_postgres_store() -> None:
    # Nothing listens on port 1: the PostgreSQL store is chosen and reports the connection.
    for url in ("postgresql://u@127.0.0.1:1/asm", "postgresql+asyncpg://127.0.0.1:1/db"):
        with pytest.raises(StorageError) as info:
            await open_store(url)
        assert info.value.code == "storage_connection_failed"
    with pytest.raises(StorageError):
        await open_store("postgres://127.0.0.1:1/db")


async def test_upgrade_store_migrates_sqlite_and_reports_revisions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'up.db'}"
    assert await upgrade_store(url) == (None, HEAD_REVISION)
    assert await upgrade_store(url) == (HEAD_REVISION, HEAD_REVISION)
    with pytest.raises(ValidationError):
        await upgrade_store("memory://")
