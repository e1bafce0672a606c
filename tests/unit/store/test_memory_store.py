"""The shared store conformance suite run against ``InMemorySessionStore``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent_session_manager import InMemorySessionStore, SessionStore
from agent_session_manager.testing.store_conformance import SessionStoreConformance


class TestInMemorySessionStore(SessionStoreConformance):
    @pytest.fixture
    async def store(self) -> AsyncIterator[InMemorySessionStore]:
        store = InMemorySessionStore()
        yield store
        await store.close()

    def fail_after_events_written(
        self, store: SessionStore
    ) -> contextlib.AbstractContextManager[Any]:
        pytest.skip(
            "the in-memory store checks every part before changing anything and has no "
            "transaction that could fail midway"
        )

    # store_url stays None: another process cannot see this store, so the multi-process tests
    # skip with that reason.
