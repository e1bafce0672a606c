"""``open_store`` without a file or a connection: the in-memory store and the refused schemes."""

from __future__ import annotations

import pytest

from agent_session_manager import InMemorySessionStore, SessionStore, ValidationError, open_store


async def test_memory_url_opens_an_in_memory_store() -> None:
    store = await open_store("memory://")
    assert isinstance(store, InMemorySessionStore)
    assert isinstance(store, SessionStore)
    await store.close()
    with pytest.raises(ValidationError):
        await open_store("memory://somewhere")


async def test_unknown_schemes_are_rejected() -> None:
    with pytest.raises(ValidationError, match="postgresql://"):
        await open_store("mysql://h/db")
