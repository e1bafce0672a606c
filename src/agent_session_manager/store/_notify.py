"""Wake-ups for long-polling readers, without a polling loop.

A reader parks a future per session; an append resolves every future of that session, from the
event loop or from a writer thread (``notify_threadsafe``). Readers re-run their query when woken,
so a wake-up for an event that does not match their filters costs one query, never a missed event.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from agent_session_manager.core.errors import StorageError

T = TypeVar("T")


class SessionNotifier:
    def __init__(self) -> None:
        self._waiters: defaultdict[str, set[asyncio.Future[None]]] = defaultdict(set)

    def has_waiters(self, session_id: str) -> bool:
        return bool(self._waiters.get(session_id))

    def register(self, session_id: str) -> asyncio.Future[None]:
        """Park a future for the next append to ``session_id``; pass it to :meth:`wait`."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[session_id].add(future)
        return future

    async def wait(self, session_id: str, future: asyncio.Future[None], timeout: float) -> bool:
        """Wait until ``future`` is woken (True) or ``timeout`` passes (False)."""
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.unregister(session_id, future)

    def unregister(self, session_id: str, future: asyncio.Future[None]) -> None:
        """Forget a parked future (a reader that stops waiting without calling :meth:`wait`)."""
        waiters = self._waiters.get(session_id)
        if waiters is not None:
            waiters.discard(future)
            if not waiters:
                del self._waiters[session_id]

    def notify(self, session_id: str) -> None:
        """Wake every reader of ``session_id`` (call on the event loop)."""
        for future in self._waiters.pop(session_id, ()):
            if not future.done():
                future.set_result(None)

    def notify_threadsafe(self, session_ids: Iterable[str]) -> None:
        """Wake readers from another thread: each future is resolved on its own loop."""
        for session_id in session_ids:
            for future in tuple(self._waiters.get(session_id, ())):
                loop = future.get_loop()
                if not loop.is_closed():
                    loop.call_soon_threadsafe(_resolve, future)

    def wake_all(self) -> None:
        """Release every reader (the store is closing)."""
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.get_loop().call_soon_threadsafe(_resolve, future)
        self._waiters.clear()


async def long_poll(
    notifier: SessionNotifier,
    session_id: str,
    timeout: float,
    read: Callable[[], Awaitable[list[T]]],
    closed: Callable[[], bool],
    woken: Callable[[], Awaitable[list[T]]] | None = None,
) -> list[T]:
    """The wait of a SQL store's ``wait_for_events``: ``read`` until it finds something, parking
    a future on ``notifier`` *before* each re-read (an append landing in between still wakes
    us), for at most ``timeout`` seconds. After a wake-up ``woken`` (default ``read``) looks
    again. A store that closes meanwhile ends the wait with nothing, even if a read failed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        found = await read()
        while not found and not closed():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            future = notifier.register(session_id)
            try:
                found = await read()
            except BaseException:
                notifier.unregister(session_id, future)
                raise
            if found:
                notifier.unregister(session_id, future)
                break
            if not await notifier.wait(session_id, future, remaining):
                break
            if closed():
                break
            found = await (woken or read)()
    except StorageError:
        if closed():
            return []
        raise
    return found


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
