"""The shared store conformance suite run against ``InMemorySessionStore``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agent_session_manager.store.memory import InMemorySessionStore
from agent_session_manager.testing.store_conformance import SessionStoreConformance


class TestInMemorySessionStore(SessionStoreConformance):
    @pytest.fixture
    async def store(self) -> AsyncIterator[InMemorySessionStore]:
        store = InMemorySessionStore()
        yield store
        await store.close()
