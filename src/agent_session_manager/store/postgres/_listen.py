"""The PostgreSQL store's ``LISTEN`` connection: wakes local waiters on other processes' appends.

Every append transaction sends ``NOTIFY asm_events, '<session id>'``; this connection, opened on
the first wait, hands those of other writers to the store's :class:`SessionNotifier` (this
store's own writers wake its waiters right after their commit). A lost connection wakes every
waiter, so they re-query and listen again on a new one. It knows LISTEN/NOTIFY and the
notifier; nothing about queries, writes or the store's other connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg

from agent_session_manager.store._notify import SessionNotifier
from agent_session_manager.store.postgres._open import _connect
from agent_session_manager.store.postgres._ops import NOTIFY_CHANNEL


class _Listener:
    """One ``LISTEN`` connection (``conn``, None until the first wait or after it was lost).

    ``is_ours(pid)`` tells this store's writer connections apart; ``closed()`` whether the
    store is closing (then no new connection is opened).
    """

    def __init__(
        self,
        dsn: str,
        notifier: SessionNotifier,
        is_ours: Callable[[int], bool],
        closed: Callable[[], bool],
    ) -> None:
        self._dsn = dsn
        self._notifier = notifier
        self._is_ours = is_ours
        self._closed = closed
        self._lock = asyncio.Lock()
        self.conn: asyncpg.Connection | None = None

    async def ensure(self) -> None:
        """Listen, on a new connection unless the current one is still open."""
        if self.conn is not None and not self.conn.is_closed():
            return
        async with self._lock:
            if self._closed() or (self.conn is not None and not self.conn.is_closed()):
                return
            conn = await _connect(self._dsn, 30.0)
            try:
                await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
            except BaseException:
                conn.terminate()
                raise
            conn.add_termination_listener(self._on_lost)
            self.conn = conn

    async def close(self) -> None:
        async with self._lock:
            if self.conn is not None:
                conn, self.conn = self.conn, None
                try:
                    await conn.close(timeout=5)
                except Exception:
                    conn.terminate()

    def _on_notify(self, _conn: object, pid: int, _channel: str, payload: str) -> None:
        if not self._is_ours(pid):  # ours woke our waiters already
            self._notifier.notify(payload)

    def _on_lost(self, _conn: object) -> None:
        # Waiters re-query (and re-LISTEN on a new connection) instead of sleeping to timeout.
        self.conn = None
        self._notifier.wake_all()
