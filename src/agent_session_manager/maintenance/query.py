"""Search sessions across any ``SessionStore``: filters, free-text match and cursor pages.

Built only on the ``SessionStore`` protocol (``list_sessions`` does the filtering a backend can
do in its index; status lists and text matching are applied here while paging), so it works the
same on memory, SQLite, PostgreSQL and third-party stores. It knows nothing about any backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from agent_session_manager.core.errors import ValidationError
from agent_session_manager.core.events import Event
from agent_session_manager.core.lifecycle import SessionStatus
from agent_session_manager.core.models import Session
from agent_session_manager.store.protocol import SessionStore

__all__ = [
    "EVENT_PAGE",
    "MAX_LIMIT",
    "SCAN_PAGE",
    "SessionPage",
    "iter_events",
    "iter_sessions",
    "json_size",
    "search_sessions",
]

#: Sessions read from the store per ``list_sessions`` call while scanning.
SCAN_PAGE = 200
#: Events read per ``get_events`` call while scanning a session's log.
EVENT_PAGE = 1000
#: The largest page :func:`search_sessions` returns.
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class SessionPage:
    """One page of a search: the sessions (newest first) and the cursor of the next page
    (``None`` when this is the last one)."""

    sessions: list[Session]
    next_cursor: str | None


def _statuses(status: SessionStatus | str | Sequence[SessionStatus | str] | None) -> set[str]:
    if status is None:
        return set()
    values = [status] if isinstance(status, str | SessionStatus) else list(status)
    found: set[str] = set()
    for value in values:
        try:
            found.add(SessionStatus(str(value).strip().lower()).value)
        except ValueError:
            choices = ", ".join(s.value for s in SessionStatus)
            raise ValidationError(
                f"invalid session status {value!r}: choose from {choices}",
                details={"status": str(value)},
            ) from None
    return found


def _text_matcher(text: str | None) -> Callable[[Session], bool] | None:
    if text is None or not text.strip():
        return None
    needle = text.strip().casefold()

    def matches(session: Session) -> bool:
        haystack = " ".join(
            (
                session.id,
                session.agent_id,
                " ".join(session.tags),
                session.provider or "",
                orjson.dumps(session.metadata, default=str).decode(),
            )
        )
        return needle in haystack.casefold()

    return matches


async def iter_sessions(
    store: SessionStore,
    *,
    agent_id: str | None = None,
    status: SessionStatus | str | Sequence[SessionStatus | str] | None = None,
    tags: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    text: str | None = None,
    provider: str | None = None,
    cursor: str | None = None,
) -> AsyncIterator[Session]:
    """Every matching session, newest first, read page by page (``since`` inclusive, ``until``
    exclusive, on ``created_at``; ``text``: case-insensitive substring of the id, agent, tags,
    provider or metadata JSON; ``provider``: the session's provider)."""
    wanted = _statuses(status)
    single = SessionStatus(next(iter(wanted))) if len(wanted) == 1 else None
    matcher = _text_matcher(text)
    tags = (tags,) if isinstance(tags, str) else tuple(tags)
    while True:
        page = await store.list_sessions(
            status=single,
            agent_id=agent_id,
            tags=tags,
            created_after=since,
            created_before=until,
            limit=SCAN_PAGE,
            cursor=cursor,
        )
        for session in page:
            if wanted and session.status.value not in wanted:
                continue
            if provider is not None and session.provider != provider:
                continue
            if matcher is not None and not matcher(session):
                continue
            yield session
        if len(page) < SCAN_PAGE:
            return
        cursor = page[-1].id


async def search_sessions(
    store: SessionStore,
    *,
    agent_id: str | None = None,
    status: SessionStatus | str | Sequence[SessionStatus | str] | None = None,
    tags: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    text: str | None = None,
    provider: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> SessionPage:
    """One page of matching sessions, newest first; pass ``page.next_cursor`` as ``cursor`` to
    get the next page. Filters are those of :func:`iter_sessions`; ``limit`` is 1 to 1000."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    found: list[Session] = []
    more = False
    async for session in iter_sessions(
        store,
        agent_id=agent_id,
        status=status,
        tags=tags,
        since=since,
        until=until,
        text=text,
        provider=provider,
        cursor=cursor,
    ):
        if len(found) == limit:
            more = True
            break
        found.append(session)
    return SessionPage(found, found[-1].id if more else None)


async def iter_events(
    store: SessionStore, session_id: str, *, before: int | None = None
) -> AsyncIterator[Event]:
    """Every event of a session in sequence order (below ``before`` if given), page by page."""
    after = 0
    while True:
        page = await store.get_events(session_id, after=after, before=before, limit=EVENT_PAGE)
        for event in page:
            yield event
        if len(page) < EVENT_PAGE:
            return
        after = page[-1].sequence_number or 0


def json_size(record: dict[str, Any]) -> int:
    """Bytes of ``record`` as compact JSON: the size estimate maintenance reports use."""
    return len(orjson.dumps(record, default=str))
