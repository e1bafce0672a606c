"""ConcurrencyLimiter: bounds on parallel sessions and parallel runs, shared by any number of
session servers in one event loop.

Slots are taken with async context managers (``async with limiter.run_slot(run_id):``) so they
are released on every exit path: success, failure, cancellation and a crashing task. Waiters are
served strictly first come, first served; a wait with a timeout that passes raises
:class:`~agent_session_manager.core.errors.ConcurrencyError` naming the limit. The limiter only
counts keys; it knows nothing about stores, providers or what a run does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from agent_session_manager.core.errors import ConcurrencyError, ValidationError

__all__ = [
    "DEFAULT_MAX_PARALLEL_RUNS",
    "DEFAULT_MAX_PARALLEL_SESSIONS",
    "ConcurrencyLimiter",
    "LimiterStatus",
]

#: Defaults: at most this many sessions / runs hold a slot at once (``None`` = unlimited).
DEFAULT_MAX_PARALLEL_SESSIONS = 100
DEFAULT_MAX_PARALLEL_RUNS = 50


@dataclass(frozen=True, slots=True)
class LimiterStatus:
    """A snapshot of the limiter (``None`` limits and availabilities mean unlimited)."""

    active_sessions: int
    active_runs: int
    waiting_sessions: int
    waiting_runs: int
    max_parallel_sessions: int | None
    max_parallel_runs: int | None

    @property
    def available_session_slots(self) -> int | None:
        if self.max_parallel_sessions is None:
            return None
        return max(0, self.max_parallel_sessions - self.active_sessions)

    @property
    def available_run_slots(self) -> int | None:
        if self.max_parallel_runs is None:
            return None
        return max(0, self.max_parallel_runs - self.active_runs)


class _Pool:
    """Counted slots keyed by id, with a FIFO queue of waiters.

    A key holds at most one slot; acquiring a key that already holds one adds a reference
    (released when every holder has released), so nested use of the same key never deadlocks.
    """

    def __init__(self, kind: str, limit: int | None, code: str) -> None:
        if limit is not None and (isinstance(limit, bool) or limit < 1):
            raise ValidationError(f"max parallel {kind}s must be a positive integer or None")
        self.kind = kind
        self.limit = limit
        self.code = code
        self.holders: dict[str, int] = {}
        self.waiters: deque[tuple[str, asyncio.Future[None]]] = deque()

    def _free(self) -> bool:
        return self.limit is None or len(self.holders) < self.limit

    async def acquire(self, key: str, timeout: float | None) -> None:
        held = self.holders.get(key)
        if held is not None:
            self.holders[key] = held + 1
            return
        if self._free() and not self.waiters:
            self.holders[key] = 1
            return
        if timeout is not None and timeout <= 0:
            raise self._full(key, timeout)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (key, future)
        self.waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(future)
        except BaseException as exc:
            if future.done() and not future.cancelled():
                # The slot was handed over just as we gave up: pass it on.
                self._release_one(key)
            else:
                future.cancel()
                with contextlib.suppress(ValueError):
                    self.waiters.remove(entry)
            if isinstance(exc, TimeoutError):
                raise self._full(key, timeout) from None
            raise

    def _full(self, key: str, timeout: float | None) -> ConcurrencyError:
        return ConcurrencyError(
            f"Maximum parallel {self.kind}s limit ({self.limit}) reached: {self.kind} {key} "
            f"waited {timeout or 0:g} s for a slot ({len(self.holders)} active, "
            f"{len(self.waiters)} waiting)",
            code=self.code,
            details={
                "limit": self.limit,
                "active": len(self.holders),
                "waiting": len(self.waiters),
                "timeout_s": timeout,
                self.kind + "_id": key,
            },
        )

    def release(self, key: str) -> None:
        """Drop one reference of ``key`` (unknown keys are ignored)."""
        if key in self.holders:
            self._release_one(key)

    def release_all(self, key: str) -> None:
        if self.holders.pop(key, None) is not None:
            self._hand_over()

    def _release_one(self, key: str) -> None:
        count = self.holders.get(key, 0) - 1
        if count > 0:
            self.holders[key] = count
            return
        self.holders.pop(key, None)
        self._hand_over()

    def _hand_over(self) -> None:
        while self.waiters and self._free():
            key, future = self.waiters.popleft()
            if future.done():
                continue
            held = self.holders.get(key)
            self.holders[key] = 1 if held is None else held + 1
            future.set_result(None)


class ConcurrencyLimiter:
    """Caps how many sessions and how many runs (across all sessions) hold a slot at once.

    >>> limiter = ConcurrencyLimiter(max_parallel_sessions=10, max_parallel_runs=4)
    >>> limiter.status().available_run_slots
    4
    """

    def __init__(
        self,
        max_parallel_sessions: int | None = DEFAULT_MAX_PARALLEL_SESSIONS,
        max_parallel_runs: int | None = DEFAULT_MAX_PARALLEL_RUNS,
    ) -> None:
        self._sessions = _Pool("session", max_parallel_sessions, "max_sessions_exceeded")
        self._runs = _Pool("run", max_parallel_runs, "max_runs_exceeded")
        self._run_sessions: dict[str, str] = {}

    # -- context managers -------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def session_slot(
        self, session_id: str, *, timeout: float | None = None
    ) -> AsyncIterator[None]:
        """Hold a session slot for the block; waits FIFO, ``timeout`` bounds the wait."""
        await self.acquire_session(session_id, timeout=timeout)
        try:
            yield
        finally:
            self.release_session(session_id)

    @contextlib.asynccontextmanager
    async def run_slot(
        self, run_id: str, *, session_id: str | None = None, timeout: float | None = None
    ) -> AsyncIterator[None]:
        """Hold a run slot for the block; waits FIFO, ``timeout`` bounds the wait."""
        await self.acquire_run(run_id, session_id=session_id, timeout=timeout)
        try:
            yield
        finally:
            self.release_run(run_id)

    # -- explicit acquire/release -----------------------------------------------------------
    async def acquire_session(self, session_id: str, *, timeout: float | None = None) -> None:
        """Take a session slot (re-entrant per id). Raises ``ConcurrencyError``
        (``max_sessions_exceeded``) when ``timeout`` passes first; ``timeout=0`` never waits."""
        await self._sessions.acquire(session_id, timeout)

    def release_session(self, session_id: str) -> None:
        self._sessions.release(session_id)

    async def acquire_run(
        self, run_id: str, *, session_id: str | None = None, timeout: float | None = None
    ) -> None:
        """Take a run slot (global across sessions). Raises ``ConcurrencyError``
        (``max_runs_exceeded``) when ``timeout`` passes first; ``timeout=0`` never waits."""
        await self._runs.acquire(run_id, timeout)
        if session_id is not None:
            self._run_sessions[run_id] = session_id

    def release_run(self, run_id: str) -> None:
        self._runs.release(run_id)
        if run_id not in self._runs.holders:
            self._run_sessions.pop(run_id, None)

    def release_session_runs(self, session_id: str) -> None:
        """Release every run slot taken for ``session_id`` (cleanup after a crash)."""
        for run_id in [r for r, s in self._run_sessions.items() if s == session_id]:
            self._runs.release_all(run_id)
            self._run_sessions.pop(run_id, None)

    def status(self) -> LimiterStatus:
        return LimiterStatus(
            active_sessions=len(self._sessions.holders),
            active_runs=len(self._runs.holders),
            waiting_sessions=len(self._sessions.waiters),
            waiting_runs=len(self._runs.waiters),
            max_parallel_sessions=self._sessions.limit,
            max_parallel_runs=self._runs.limit,
        )
