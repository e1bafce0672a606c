"""``open_store``: which URL spellings open which store, and the errors for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_session_manager.core.errors import ValidationError
from agent_session_manager.store.factory import STORE_ENV_VAR, default_store_url, open_store
from agent_session_manager.store.memory import InMemorySessionStore
from agent_session_manager.store.protocol import SessionStore
from agent_session_manager.store.sqlite import SQLiteSessionStore


async def _sqlite_path(url: str | None) -> Path:
    store = await open_store(url)
    try:
        assert isinstance(store, SQLiteSessionStore)
        assert isinstance(store, SessionStore)
        assert store.path.exists()
        return store.path
    finally:
        await store.close()


async def test_memory_url_opens_an_in_memory_store() -> None:
    store = await open_store("memory://")
    assert isinstance(store, InMemorySessionStore)
    assert isinstance(store, SessionStore)
    await store.close()
    with pytest.raises(ValidationError):
        await open_store("memory://somewhere")


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


async def test_postgresql_is_not_available_yet() -> None:
    for url in ("postgresql://user@localhost/asm", "postgresql+asyncpg://h/db", "postgres://h/db"):
        with pytest.raises(ValidationError, match="PostgreSQL"):
            await open_store(url)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "ftp://example.com/store",
        "redis://localhost",
        "sqlite://",
        "sqlite:///",
        "sqlite://relative-without-third-slash.db",
        "sqlite:///:memory:",
        "sqlite:///store.db?mode=ro",
    ],
)
async def test_bad_urls_are_rejected(url: str) -> None:
    with pytest.raises(ValidationError):
        await open_store(url)


async def test_unknown_scheme_lists_the_supported_ones() -> None:
    with pytest.raises(ValidationError) as info:
        await open_store("mongodb://localhost/asm")
    assert "memory://" in str(info.value)
    assert "sqlite:///" in str(info.value)
