"""``CompositeStore``: one object that is both a ``SessionStore`` and an ``ArtifactStore``.

Session operations are delegated unchanged to the session store and artifact operations to the
artifact store; nothing is serialised through the composite, so a long-poll
(``wait_for_events``) never blocks other calls (upstream's composite did). ``delete_session``
also deletes the session's artifacts: every key under ``sessions/<session_id>/``
(:func:`~agent_session_manager.artifacts.protocol.session_prefix`). The session goes first, so a
failure while deleting its artifacts leaves orphans (``maintenance.clean_orphaned_artifacts``
removes them), never a session whose artifacts are gone. It knows both ports, no backend.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Self

from agent_session_manager.artifacts.protocol import (
    ArtifactRef,
    ArtifactStore,
    session_artifact_key,
    session_prefix,
)
from agent_session_manager.core.events import Event
from agent_session_manager.core.lifecycle import RunStatus, SessionStatus
from agent_session_manager.core.models import Run, Session
from agent_session_manager.store.protocol import SessionStore, StorageStats, storage_stats

__all__ = ["CompositeStore"]

logger = logging.getLogger(__name__)


class CompositeStore:
    """Sessions, runs and events from ``sessions``; artifacts from ``artifacts``.

    ``close()`` closes both. Both parts stay reachable as ``.sessions`` and ``.artifacts``.
    """

    def __init__(self, sessions: SessionStore, artifacts: ArtifactStore) -> None:
        self.sessions = sessions
        self.artifacts = artifacts

    @property
    def max_bytes(self) -> int:
        return self.artifacts.max_bytes

    def __repr__(self) -> str:
        return f"CompositeStore({self.sessions!r}, {self.artifacts!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        try:
            await self.sessions.close()
        finally:
            await self.artifacts.close()

    # -- sessions ------------------------------------------------------------------------------
    async def save_session(self, session: Session) -> None:
        await self.sessions.save_session(session)

    async def get_session(self, session_id: str) -> Session:
        return await self.sessions.get_session(session_id)

    async def list_sessions(
        self,
        *,
        status: SessionStatus | None = None,
        agent_id: str | None = None,
        tags: Sequence[str] = (),
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> builtins.list[Session]:
        return await self.sessions.list_sessions(
            status=status,
            agent_id=agent_id,
            tags=tags,
            created_after=created_after,
            created_before=created_before,
            limit=limit,
            cursor=cursor,
        )

    async def delete_session(self, session_id: str) -> None:
        """Delete the session with its runs and events, then its artifacts."""
        await self.sessions.delete_session(session_id)
        try:
            prefix = session_prefix(session_id)
        except Exception:
            return  # an id that cannot name artifacts has none
        for key in await self.artifacts.list(prefix):
            await self.artifacts.delete(key)
        logger.debug("deleted the artifacts of session %s", session_id)

    # -- runs ----------------------------------------------------------------------------------
    async def save_run(self, run: Run) -> None:
        await self.sessions.save_run(run)

    async def get_run(self, run_id: str) -> Run:
        return await self.sessions.get_run(run_id)

    async def list_runs(
        self, session_id: str, *, status: RunStatus | None = None, limit: int | None = None
    ) -> builtins.list[Run]:
        return await self.sessions.list_runs(session_id, status=status, limit=limit)

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        return await self.sessions.delete_runs(run_ids)

    # -- events --------------------------------------------------------------------------------
    async def append_event(self, event: Event) -> Event:
        return await self.sessions.append_event(event)

    async def append_events(self, events: Sequence[Event]) -> builtins.list[Event]:
        return await self.sessions.append_events(events)

    async def get_events(
        self,
        session_id: str,
        *,
        after: int = 0,
        before: int | None = None,
        limit: int | None = None,
        run_id: str | None = None,
        types: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> builtins.list[Event]:
        return await self.sessions.get_events(
            session_id,
            after=after,
            before=before,
            limit=limit,
            run_id=run_id,
            types=types,
            since=since,
            until=until,
        )

    async def latest_sequence(self, session_id: str) -> int:
        return await self.sessions.latest_sequence(session_id)

    async def delete_events(self, session_id: str, event_ids: Sequence[str]) -> int:
        return await self.sessions.delete_events(session_id, event_ids)

    async def wait_for_events(
        self,
        session_id: str,
        *,
        after: int,
        timeout: float,
        run_id: str | None = None,
        types: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> builtins.list[Event]:
        return await self.sessions.wait_for_events(
            session_id, after=after, timeout=timeout, run_id=run_id, types=types, limit=limit
        )

    async def flush(
        self,
        *,
        run: Run | None = None,
        session: Session | None = None,
        events: Sequence[Event] = (),
        run_from: RunStatus | None = None,
    ) -> builtins.list[Event]:
        return await self.sessions.flush(run=run, session=session, events=events, run_from=run_from)

    async def storage_stats(self) -> StorageStats:
        """The session store's figures (artifacts are not counted)."""
        return await storage_stats(self.sessions)

    # -- artifacts -----------------------------------------------------------------------------
    async def put(self, key: str, data: bytes) -> ArtifactRef:
        return await self.artifacts.put(key, data)

    async def put_content(self, data: bytes, *, prefix: str = "") -> str:
        return await self.artifacts.put_content(data, prefix=prefix)

    async def get(self, key: str) -> bytes:
        return await self.artifacts.get(key)

    async def exists(self, key: str) -> bool:
        return await self.artifacts.exists(key)

    async def delete(self, key: str) -> None:
        await self.artifacts.delete(key)

    async def list(self, prefix: str = "") -> builtins.list[str]:
        return await self.artifacts.list(prefix)

    # -- session artifacts (the sessions/<id>/ convention) -------------------------------------
    async def put_session_artifact(self, session_id: str, name: str, data: bytes) -> ArtifactRef:
        """Store ``data`` as ``sessions/<session_id>/<name>``; the session must exist."""
        await self.sessions.get_session(session_id)
        return await self.artifacts.put(session_artifact_key(session_id, name), data)

    async def list_session_artifacts(self, session_id: str) -> builtins.list[str]:
        """The keys of a session's artifacts, sorted."""
        return await self.artifacts.list(session_prefix(session_id))
