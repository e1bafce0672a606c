"""follow_events: the one iterator that reads a session's event log from a cursor and follows it.

``SessionManager.stream_session_events``, ``SessionServer.subscribe`` and ``asm events --follow``
all delegate here, so cursor handling, the ``before`` bound, the total ``limit``, filters and the
stop signal mean the same thing everywhere. It reads through the store port only: filters are
pushed to ``get_events``/``wait_for_events``, and new events are awaited with the store's own
long-poll (woken by the append, also from another process), never by a polling loop. It knows
no store backend, no manager and no server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Coroutine, Sequence

from agent_session_manager.core.errors import StorageError, ValidationError
from agent_session_manager.core.events import Event
from agent_session_manager.store.protocol import SessionStore

__all__ = ["DEFAULT_PAGE_SIZE", "DEFAULT_WAIT_TIMEOUT", "follow_events"]

#: Events read per store query.
DEFAULT_PAGE_SIZE = 500
#: Seconds one long-poll parks in the store before the iterator asks again.
DEFAULT_WAIT_TIMEOUT = 30.0


def follow_events(
    store: SessionStore,
    session_id: str,
    *,
    after: int = 0,
    before: int | None = None,
    run_id: str | None = None,
    types: Sequence[str] | None = None,
    limit: int | None = None,
    follow: bool = True,
    page_size: int = DEFAULT_PAGE_SIZE,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
    stop: asyncio.Event | None = None,
) -> AsyncGenerator[Event, None]:
    """Yield the session's events with ``after < sequence_number < before``, oldest first,
    each exactly once; ``run_id`` and ``types`` narrow them, ``limit`` caps the total.

    Without ``follow`` it ends once the stored events are delivered. With it (the default) it
    then waits for new ones and ends only when ``limit`` events were delivered, when the log has
    passed ``before``, or once ``stop`` is set: then it stops waiting, delivers what was stored
    at that moment and ends. A store closed under it raises ``StorageError``. Arguments are
    checked here, before the first read.
    """
    for name, value, low in (
        ("after", after, 0),
        ("before", before, 1),
        ("limit", limit, 1),
        ("page_size", page_size, 1),
    ):
        bad = isinstance(value, bool) or not isinstance(value, int) or value < low
        if value is not None and bad:
            raise ValidationError(f"{name} must be an integer >= {low}, got {value!r}")
    if isinstance(wait_timeout, bool) or not isinstance(wait_timeout, int | float):
        raise ValidationError(f"wait_timeout must be a number of seconds, got {wait_timeout!r}")
    if not wait_timeout > 0:  # a zero wait would spin instead of parking
        raise ValidationError(f"wait_timeout must be > 0, got {wait_timeout!r}")
    return _follow(
        store,
        session_id,
        after,
        before,
        run_id,
        types,
        limit,
        follow,
        page_size,
        wait_timeout,
        stop,
    )


async def _follow(
    store: SessionStore,
    session_id: str,
    cursor: int,
    end: int | None,
    run_id: str | None,
    types: Sequence[str] | None,
    left: int | None,
    follow: bool,
    page_size: int,
    wait_timeout: float,
    stop: asyncio.Event | None,
) -> AsyncGenerator[Event, None]:
    while left is None or left > 0:
        if follow and stop is not None and stop.is_set():
            # Checked per page, so a writer outpacing the reader cannot keep it going.
            latest = await store.latest_sequence(session_id)
            end = latest + 1 if end is None else min(end, latest + 1)
            follow = False
        page = page_size if left is None else min(page_size, left)
        # With an upper bound, how far the log reached *before* the read: if that is past the
        # bound and the read finds nothing, nothing more can match.
        reached = await store.latest_sequence(session_id) if follow and end is not None else 0
        events = await store.get_events(
            session_id, after=cursor, before=end, run_id=run_id, types=types, limit=page
        )
        if not events:
            if not follow:
                return
            if end is not None:
                if reached >= end - 1:
                    return
                # Any append past what was seen wakes us, matching or not: the log passing
                # `before` with events that do not match must end the iteration too. The next
                # read, bounded by `before`, picks out what matches.
                waking = store.wait_for_events(
                    session_id, after=max(reached, cursor), timeout=wait_timeout, limit=1
                )
                await _wait(waking, session_id, wait_timeout, stop)
                continue
            waiting = store.wait_for_events(
                session_id,
                after=cursor,
                timeout=wait_timeout,
                run_id=run_id,
                types=types,
                limit=page,
            )
            events = await _wait(waiting, session_id, wait_timeout, stop)
        for event in events:
            yield event
            cursor = event.sequence_number or cursor
        if left is not None:
            left -= len(events)


async def _wait(
    call: Coroutine[object, object, list[Event]],
    session_id: str,
    timeout: float,
    stop: asyncio.Event | None,
) -> list[Event]:
    """One long-poll, abandoned as soon as ``stop`` is set (then ``[]``).

    The port's ``wait_for_events`` comes back empty before its timeout only when the store is
    closing, so that is reported as the store's error rather than retried in a tight loop.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    if stop is None:
        found = await call
    else:
        waiter = asyncio.ensure_future(call)
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((waiter, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, stopped):
                task.cancel()
            await asyncio.gather(waiter, stopped, return_exceptions=True)
        if waiter.cancelled():
            return []
        found = waiter.result()
    if not found and loop.time() - started < timeout / 2:
        raise StorageError(f"the store was closed while following session {session_id}")
    return found
