"""``describe_store`` names a store the way the command chose it (``--store``, the global
``--store``, ``$ASM_STORE`` or the config file), with any password masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_session_manager.cli import _runtime
from agent_session_manager.cli._runtime import describe_store

URL = "postgresql://asm:s3cret@127.0.0.1:5432/test"
MASKED = "postgresql://asm:***@127.0.0.1:5432/test"


class _UrlStore:
    """A store with no file path (as PostgreSQL's): only its URL can say where it is."""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config file naming ``URL``, and no other source of a store URL."""
    path = tmp_path / "asm.toml"
    path.write_text(f'store = "{URL}"\n')
    monkeypatch.delenv("ASM_STORE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty-config-home"))
    monkeypatch.setattr(_runtime.state, "store_url", None)
    monkeypatch.setattr(_runtime.state, "config_file", str(path))
    return path


@pytest.mark.usefixtures("config_file")
def test_a_store_named_only_in_the_config_file_is_shown_by_its_masked_url() -> None:
    assert describe_store(_UrlStore(), None) == MASKED


@pytest.mark.usefixtures("config_file")
def test_the_commands_own_store_comes_before_the_config_file() -> None:
    other = "postgresql://other:pw@127.0.0.1:5432/other"
    assert describe_store(_UrlStore(), other) == "postgresql://other:***@127.0.0.1:5432/other"


def test_with_no_url_anywhere_the_store_is_named_by_its_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASM_STORE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty-config-home"))
    monkeypatch.setattr(_runtime.state, "store_url", None)
    monkeypatch.setattr(_runtime.state, "config_file", None)
    monkeypatch.delenv("ASM_CONFIG", raising=False)
    assert describe_store(_UrlStore(), None) == "_UrlStore"
