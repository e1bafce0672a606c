"""The composite store is a full SessionStore and ArtifactStore: it passes both conformance
suites, deleting a session deletes its artifacts, and a long-poll through it blocks nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent_session_manager import (
    ArtifactStore,
    CompositeStore,
    Event,
    FilesystemArtifactStore,
    InMemorySessionStore,
    Run,
    RunStatus,
    Session,
    SessionNotFound,
    SessionStore,
)
from agent_session_manager.artifacts import session_artifact_key
from agent_session_manager.testing.artifact_conformance import (
    CONFORMANCE_MAX_BYTES,
    ArtifactStoreConformance,
)
from agent_session_manager.testing.store_conformance import SessionStoreConformance


@pytest.fixture
async def composite(tmp_path: Path) -> AsyncIterator[CompositeStore]:
    store = CompositeStore(
        InMemorySessionStore(),
        FilesystemArtifactStore(tmp_path / "art", max_bytes=CONFORMANCE_MAX_BYTES),
    )
    yield store
    await store.close()


class TestCompositeAsSessionStore(SessionStoreConformance):
    @pytest.fixture
    async def store(self, composite: CompositeStore) -> CompositeStore:
        return composite

    def fail_after_events_written(
        self, store: SessionStore
    ) -> contextlib.AbstractContextManager[Any]:
        pytest.skip(
            "the composite delegates every session write unchanged; the wrapped store's own "
            "suite covers failures mid-transaction"
        )


class TestCompositeAsArtifactStore(ArtifactStoreConformance):
    @pytest.fixture
    async def artifacts(self, composite: CompositeStore) -> CompositeStore:
        return composite


async def test_is_both_ports(composite: CompositeStore) -> None:
    assert isinstance(composite, SessionStore)
    assert isinstance(composite, ArtifactStore)


async def test_delete_session_cascades_to_runs_events_and_artifacts(
    composite: CompositeStore,
) -> None:
    keep, drop = Session(agent_id="a"), Session(agent_id="a")
    for session in (keep, drop):
        await composite.save_session(session)
        run = Run(session_id=session.id, status=RunStatus.PENDING)
        await composite.save_run(run)
        await composite.append_event(Event(type="run_started", session_id=session.id))
        await composite.put_session_artifact(session.id, "out/result.txt", b"r")
        await composite.put_content(
            b"patch " + session.id.encode(), prefix=f"sessions/{session.id}/"
        )
    await composite.put("shared/readme", b"not a session's")

    await composite.delete_session(drop.id)

    with pytest.raises(SessionNotFound):
        await composite.get_session(drop.id)
    assert await composite.list_runs(drop.id) == []
    assert await composite.get_events(drop.id) == []
    assert await composite.list_session_artifacts(drop.id) == []
    kept = await composite.list_session_artifacts(keep.id)
    assert session_artifact_key(keep.id, "out/result.txt") in kept
    assert len(kept) == 2
    assert await composite.get("shared/readme") == b"not a session's"
    await composite.delete_session(drop.id)  # deleting again is a no-op


async def test_session_artifact_needs_the_session(composite: CompositeStore) -> None:
    with pytest.raises(SessionNotFound):
        await composite.put_session_artifact("ses_missing", "x", b"1")


async def test_long_poll_through_the_composite_does_not_block_other_calls(
    composite: CompositeStore,
) -> None:
    session = Session(agent_id="a")
    await composite.save_session(session)
    waiter = asyncio.create_task(composite.wait_for_events(session.id, after=0, timeout=30))
    await asyncio.sleep(0)
    await composite.put("k", b"v")  # completes while the long-poll is pending
    assert await composite.get("k") == b"v"
    assert not waiter.done()
    await composite.append_event(Event(type="session_started", session_id=session.id))
    events = await asyncio.wait_for(waiter, timeout=20)
    assert [e.type for e in events] == ["session_started"]
