"""``store/postgres/`` without asyncpg installed: importing it, or opening a PostgreSQL URL,
fails with the install hint instead of a bare "No module named 'asyncpg'"."""

from __future__ import annotations

import importlib
import re
import sys

import pytest

from agent_session_manager import ValidationError, open_store
from agent_session_manager.core.extras import MissingDependency

HINT = re.escape("pip install 'agentsessionmanager[postgres]'")


@pytest.fixture
def without_asyncpg(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if asyncpg were not installed (restored, with the package's modules, afterwards)."""
    for name in list(sys.modules):
        if name == "asyncpg" or name.startswith(
            ("asyncpg.", "agent_session_manager.store.postgres")
        ):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # type: ignore[arg-type]


@pytest.mark.usefixtures("without_asyncpg")
def test_importing_the_package_names_the_install_command() -> None:
    with pytest.raises(MissingDependency, match=HINT) as caught:
        importlib.import_module("agent_session_manager.store.postgres")
    assert isinstance(caught.value, ImportError)
    assert caught.value.name == "asyncpg"


@pytest.mark.usefixtures("without_asyncpg")
async def test_opening_a_postgresql_url_names_the_install_command() -> None:
    with pytest.raises(ValidationError, match=HINT) as caught:
        await open_store("postgresql://u@127.0.0.1:1/asm")
    assert caught.value.details == {"missing": "asyncpg", "extra": "postgres"}
