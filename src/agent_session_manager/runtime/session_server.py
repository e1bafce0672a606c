"""SessionServer: one long-lived object per session that queues, runs and watches its runs.

Runs are submitted to a FIFO queue and executed through the :class:`SessionManager` with at
most ``max_concurrent_runs`` in flight (and, optionally, a shared :class:`ConcurrencyLimiter`).
Callers await results by run id, cancel queued or running runs, drain the server, pause and
resume the session, and subscribe to the session's events. Subscriptions are durable: they
read the store from a cursor and then follow it (woken by the append itself), so every event
is delivered exactly once and in sequence order, whenever the subscriber joins. A failing run,
provider or callback never takes the server down, and memory stays bounded: finished results
are kept in a small LRU (older ones are rebuilt from the store). The server knows the manager,
the store port and the limiter; it knows nothing about any particular provider or store
backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from agent_session_manager.core.capabilities import CapabilityType
from agent_session_manager.core.errors import (
    ASMError,
    ConcurrencyError,
    InvalidTransition,
    RunNotFound,
    RunTimeout,
    ValidationError,
)
from agent_session_manager.core.events import Event
from agent_session_manager.core.lifecycle import SessionStatus
from agent_session_manager.core.models import Run
from agent_session_manager.core.options import USE_DEFAULT_TIMEOUT, UseDefault
from agent_session_manager.manager import RunResult, SessionManager
from agent_session_manager.pipeline import EventCallback
from agent_session_manager.providers.protocol import AdapterOptions
from agent_session_manager.runtime.limiter import ConcurrencyLimiter
from agent_session_manager.store.follow import follow_events

__all__ = [
    "DEFAULT_MAX_QUEUED_RUNS",
    "DEFAULT_RETAINED_RESULTS",
    "ServerStatus",
    "SessionServer",
    "Subscription",
]

logger = logging.getLogger(__name__)

#: Queued (not yet started) runs a server accepts before ``submit_run`` refuses more.
DEFAULT_MAX_QUEUED_RUNS = 100
#: Finished results kept in memory for ``await_run``; older ones are rebuilt from the store.
DEFAULT_RETAINED_RESULTS = 256

_QUEUED, _STARTING, _RUNNING = "queued", "starting", "running"


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """A snapshot of a :class:`SessionServer`."""

    session_id: str
    queued_runs: tuple[str, ...]
    in_flight_runs: tuple[str, ...]
    max_concurrent_runs: int
    max_queued_runs: int
    paused: bool
    closed: bool
    subscribers: int
    retained_results: int

    @property
    def queued_count(self) -> int:
        return len(self.queued_runs)

    @property
    def in_flight_count(self) -> int:
        return len(self.in_flight_runs)

    @property
    def idle(self) -> bool:
        return not self.queued_runs and not self.in_flight_runs


class _Entry:
    __slots__ = (
        "cancel_reason",
        "cancel_requested",
        "done",
        "on_event",
        "options",
        "run_id",
        "state",
        "task",
        "timeout",
    )

    def __init__(
        self,
        run_id: str,
        options: AdapterOptions | None,
        timeout: float | UseDefault | None,
        on_event: EventCallback | None,
    ) -> None:
        self.run_id = run_id
        self.options = options
        self.timeout = timeout
        self.on_event = on_event
        self.state = _QUEUED
        self.done: asyncio.Future[RunResult] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None
        self.cancel_requested = False
        self.cancel_reason: str | None = None


class SessionServer:
    """Serves one session: a FIFO run queue, result awaiting, cancel, drain and subscriptions.

    Create it with :meth:`open` (which creates the session when no id is given) or with the
    constructor plus ``await server.start()``; close it with :meth:`close` or use it as an async
    context manager. ``options``, ``timeout`` and ``on_event`` given to the constructor are the
    defaults for every run; :meth:`submit_run` can override them per run.
    """

    def __init__(
        self,
        manager: SessionManager,
        session_id: str,
        *,
        max_concurrent_runs: int = 1,
        max_queued_runs: int = DEFAULT_MAX_QUEUED_RUNS,
        limiter: ConcurrencyLimiter | None = None,
        slot_timeout: float | None = None,
        options: AdapterOptions | None = None,
        timeout: float | UseDefault | None = USE_DEFAULT_TIMEOUT,
        on_event: EventCallback | None = None,
        retained_results: int = DEFAULT_RETAINED_RESULTS,
    ) -> None:
        for name, value, low in (
            ("max_concurrent_runs", max_concurrent_runs, 1),
            ("max_queued_runs", max_queued_runs, 0),
            ("retained_results", retained_results, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValidationError(f"{name} must be an integer >= {low}, got {value!r}")
        self.manager = manager
        self.session_id = session_id
        self.max_concurrent_runs = max_concurrent_runs
        self.max_queued_runs = max_queued_runs
        self._limiter = limiter
        self._slot_timeout = slot_timeout
        self._options = options
        self._timeout = timeout
        self._on_event = on_event
        self._retained = retained_results
        self._entries: dict[str, _Entry] = {}
        self._queue: deque[_Entry] = deque()
        self._finished: OrderedDict[str, asyncio.Future[RunResult]] = OrderedDict()
        self._subscriptions: set[Subscription] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed_signal = asyncio.Event()  # set once close() has written its last event
        self._started = False
        self._closed = False
        self._paused = False
        self._holds_session_slot = False
        self._creating = 0

    # -- lifecycle --------------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        manager: SessionManager,
        session_id: str | None = None,
        *,
        agent_id: str | None = None,
        system_prompt: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] = (),
        max_concurrent_runs: int = 1,
        max_queued_runs: int = DEFAULT_MAX_QUEUED_RUNS,
        limiter: ConcurrencyLimiter | None = None,
        slot_timeout: float | None = None,
        options: AdapterOptions | None = None,
        timeout: float | UseDefault | None = USE_DEFAULT_TIMEOUT,
        on_event: EventCallback | None = None,
        retained_results: int = DEFAULT_RETAINED_RESULTS,
    ) -> SessionServer:
        """Start a server for ``session_id`` (activated if pending), or for a new session.

        ``agent_id``, ``system_prompt``, ``metadata`` and ``tags`` describe the new session;
        the other keyword arguments are the constructor's, repeated (not ``**kwargs``) so they
        are typed and documented here; a test fails when the two lists drift apart.
        """
        if session_id is None:
            session = await manager.start_session(
                agent_id, system_prompt=system_prompt, metadata=metadata, tags=tags
            )
            session_id = session.id
        server = cls(
            manager,
            session_id,
            max_concurrent_runs=max_concurrent_runs,
            max_queued_runs=max_queued_runs,
            limiter=limiter,
            slot_timeout=slot_timeout,
            options=options,
            timeout=timeout,
            on_event=on_event,
            retained_results=retained_results,
        )
        await server.start()
        return server

    async def start(self) -> None:
        """Check the session, activate it if pending and take a session slot (if limited)."""
        if self._started:
            return
        if self._closed:
            raise InvalidTransition(
                f"session server {self.session_id} is closed", code="server_closed"
            )
        session = await self.manager.get_session(self.session_id)
        if session.status.is_terminal:
            raise InvalidTransition(
                f"session {self.session_id} is {session.status}; it cannot be served",
                details={"id": self.session_id, "status": str(session.status)},
            )
        if self._limiter is not None:
            await self._limiter.acquire_session(self.session_id, timeout=self._slot_timeout)
            self._holds_session_slot = True
        try:
            if session.status is SessionStatus.PENDING:
                await self.manager.activate_session(self.session_id)
            self._paused = session.status is SessionStatus.PAUSED
        except BaseException:
            self._release_session_slot()
            raise
        self._started = True

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Refuse new runs, cancel queued and running runs, end subscriptions, free slots.

        Idempotent. Call :meth:`drain` first to let work finish instead.
        """
        if self._closed:
            return
        self._closed = True
        try:
            for entry in list(self._queue):
                await self._cancel_queued(entry, "session server closed")
            await asyncio.gather(
                *(self._cancel_in_flight(e, "session server closed") for e in self._in_flight()),
                return_exceptions=True,
            )
        finally:
            tasks = [e.task for e in self._entries.values() if e.task is not None]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self._subscriptions.clear()  # each ends by itself once it has delivered the rest
            self._closed_signal.set()
            self._release_session_slot()

    def _release_session_slot(self) -> None:
        if self._holds_session_slot and self._limiter is not None:
            self._holds_session_slot = False
            self._limiter.release_session(self.session_id)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- runs -------------------------------------------------------------------------------
    async def submit_run(
        self,
        input: str | Mapping[str, Any],
        *,
        options: AdapterOptions | None = None,
        timeout: float | UseDefault | None = USE_DEFAULT_TIMEOUT,
        on_event: EventCallback | None = None,
        metadata: Mapping[str, Any] | None = None,
        required_capabilities: Sequence[CapabilityType | str] = (),
    ) -> str:
        """Create a pending run, queue it and return its id at once.

        Raises ``ConcurrencyError`` (``max_runs_exceeded``) when ``max_queued_runs`` runs are
        already waiting, ``ValidationError`` for unusable input, ``InvalidTransition`` when the
        server is closed or the session ended.
        """
        self._check_open()
        # Runs being created count as queued; free run slots add to the queue's capacity.
        free = 0 if self._paused else self.max_concurrent_runs - len(self._in_flight())
        if len(self._queue) + self._creating >= self.max_queued_runs + max(0, free):
            raise ConcurrencyError(
                f"Maximum queued runs exceeded ({self.max_queued_runs}) in session "
                f"{self.session_id}",
                code="max_runs_exceeded",
                details={"max_queued_runs": self.max_queued_runs},
            )
        self._creating += 1  # counted as queued while the run record is written
        try:
            run = await self.manager.start_run(
                self.session_id,
                input,
                metadata=metadata,
                required_capabilities=required_capabilities,
                allow_paused=self._paused,  # the run waits in the queue until resume()
            )
        finally:
            self._creating -= 1
        if self._closed:  # closed while the run was being created
            await self.manager.cancel_run(run.id, reason="session server closed")
            self._check_open()
        entry = _Entry(
            run.id,
            options if options is not None else self._options,
            self._timeout if isinstance(timeout, UseDefault) else timeout,
            on_event if on_event is not None else self._on_event,
        )
        self._entries[run.id] = entry
        self._queue.append(entry)
        self._idle.clear()
        self._pump()
        return run.id

    async def await_run(self, run_id: str, *, timeout: float | None = None) -> RunResult:
        """The result of a run submitted here, waiting for it to finish.

        A run this server does not know raises ``RunNotFound`` at once. A finished run no
        longer kept in memory is rebuilt from the store. Raises ``RunTimeout`` when ``timeout``
        seconds pass first (the run keeps going), and re-raises an error that stopped the run
        from executing at all (for example a store failure).
        """
        entry = self._entries.get(run_id)
        if entry is not None:
            try:
                async with asyncio.timeout(timeout):
                    return await asyncio.shield(entry.done)
            except TimeoutError:
                raise RunTimeout(
                    f"run {run_id} did not finish within {timeout:g} s (it is still {entry.state})",
                    code="wait_timeout",
                    details={"run_id": run_id, "timeout_s": timeout},
                ) from None
        finished = self._finished.get(run_id)
        if finished is not None:
            self._finished.move_to_end(run_id)
            return finished.result()
        return await self._result_from_store(run_id)

    async def run(
        self,
        input: str | Mapping[str, Any],
        *,
        run_timeout: float | UseDefault | None = USE_DEFAULT_TIMEOUT,
        wait_timeout: float | None = None,
        options: AdapterOptions | None = None,
        on_event: EventCallback | None = None,
        metadata: Mapping[str, Any] | None = None,
        required_capabilities: Sequence[CapabilityType | str] = (),
    ) -> RunResult:
        """:meth:`submit_run` then :meth:`await_run`: queue a run and wait for its result.

        ``run_timeout`` bounds the run (it ends ``timed_out``; the ``timeout`` of
        :meth:`submit_run`); ``wait_timeout`` bounds only the wait (``RunTimeout`` with code
        ``wait_timeout``, and the run keeps going).
        """
        run_id = await self.submit_run(
            input,
            options=options,
            timeout=run_timeout,
            on_event=on_event,
            metadata=metadata,
            required_capabilities=required_capabilities,
        )
        return await self.await_run(run_id, timeout=wait_timeout)

    async def cancel_run(self, run_id: str, *, reason: str | None = None) -> Run:
        """Cancel a queued or running run, wait until it is recorded ``cancelled`` and return it
        in its final state (as :meth:`SessionManager.cancel_run` does).

        Cancelling a finished run is a no-op that returns it unchanged; a run that is not of this
        session raises ``RunNotFound``.
        """
        entry = self._entries.get(run_id)
        if entry is None:
            run = await self._own_run(run_id)
            if run.status.is_terminal:
                return run
            return await self.manager.cancel_run(run_id, reason=reason)
        if entry.state == _QUEUED:
            await self._cancel_queued(entry, reason)
        else:
            await self._cancel_in_flight(entry, reason)
        return await self._own_run(run_id)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until no run is queued or in flight; ``RunTimeout`` if ``timeout`` passes."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            raise RunTimeout(
                f"session server {self.session_id} did not drain within {timeout:g} s "
                f"({len(self._queue)} queued, {len(self._in_flight())} in flight)",
                code="wait_timeout",
                details={"timeout_s": timeout},
            ) from None

    def status(self) -> ServerStatus:
        return ServerStatus(
            session_id=self.session_id,
            queued_runs=tuple(e.run_id for e in self._queue),
            in_flight_runs=tuple(e.run_id for e in self._in_flight()),
            max_concurrent_runs=self.max_concurrent_runs,
            max_queued_runs=self.max_queued_runs,
            paused=self._paused,
            closed=self._closed,
            subscribers=len(self._subscriptions),
            retained_results=len(self._finished),
        )

    # -- pause / resume ---------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self._paused

    async def pause(self, *, reason: str | None = None) -> None:
        """Pause the session: queued and newly submitted runs wait; running runs go on."""
        self._check_open()
        if self._paused:
            return
        self._paused = True
        try:
            session = await self.manager.get_session(self.session_id)
            if session.status is SessionStatus.ACTIVE:
                await self.manager.pause_session(self.session_id, reason=reason)
        except BaseException:
            self._paused = False
            raise

    async def resume(self) -> None:
        """Resume a paused session and start the runs that waited."""
        self._check_open()
        if not self._paused:
            return
        session = await self.manager.get_session(self.session_id)
        if session.status is SessionStatus.PAUSED:
            await self.manager.resume_session(self.session_id)
        self._paused = False
        self._pump()

    # -- subscriptions ----------------------------------------------------------------------
    def subscribe(
        self,
        *,
        after: int = 0,
        run_id: str | None = None,
        types: Sequence[str] | None = None,
        follow: bool = True,
        page_size: int = 500,
    ) -> Subscription:
        """Events of this session with ``sequence_number > after``, then live ones.

        Returns an async iterator (also an async context manager; ``aclose()`` ends it). With
        ``follow`` it waits for new events until the server closes (then delivers what is left
        and ends); without, it ends after the stored events.
        """
        if isinstance(types, str):
            types = [types]

        def feed(cursor: int) -> AsyncGenerator[Event, None]:
            return follow_events(
                self.manager.store,
                self.session_id,
                after=cursor,
                run_id=run_id,
                types=types,
                follow=follow,
                page_size=page_size,
                stop=self._closed_signal,
            )

        subscription = Subscription(feed, after=after, on_close=self._subscriptions.discard)
        self._subscriptions.add(subscription)
        return subscription

    # -- internals --------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise InvalidTransition(
                f"session server {self.session_id} is closed", code="server_closed"
            )
        if not self._started:
            raise InvalidTransition(
                f"session server {self.session_id} is not started (use open() or start())"
            )

    def _in_flight(self) -> list[_Entry]:
        return [e for e in self._entries.values() if e.state != _QUEUED]

    def _pump(self) -> None:
        in_flight = len(self._in_flight())
        while self._queue and not self._paused and not self._closed:
            if in_flight >= self.max_concurrent_runs:
                break
            entry = self._queue.popleft()
            entry.state = _STARTING
            in_flight += 1
            entry.task = asyncio.create_task(
                self._drive(entry), name=f"asm-session-server-{entry.run_id}"
            )

    async def _drive(self, entry: _Entry) -> None:
        try:
            if self._limiter is not None:
                async with self._limiter.run_slot(
                    entry.run_id, session_id=self.session_id, timeout=self._slot_timeout
                ):
                    result = await self._execute(entry)
            else:
                result = await self._execute(entry)
        except asyncio.CancelledError:
            try:
                result = await asyncio.shield(self._record_cancel(entry))
            except BaseException as exc:  # includes a second cancel
                self._complete(entry, error=_as_error(exc))
                return
        except Exception as exc:
            error = _as_error(exc)
            logger.warning("run %s could not execute: %s", entry.run_id, error)
            failed = await self._fail_stranded(entry.run_id, error)
            if failed is not None and _session_not_active(error, self.session_id):
                # Paused or ended from outside while queued: a run outcome, not a crash.
                self._complete(entry, result=failed)
            else:
                self._complete(entry, error=error)
            return
        self._complete(entry, result=result)

    async def _fail_stranded(self, run_id: str, error: ASMError) -> RunResult | None:
        """A run that could not execute (its session was paused or ended from outside, a
        preflight check failed, the execution crashed) still gets its one terminal status and
        event, ``failed`` with the cause; returns that result. A run another manager executes
        is left alone (``None``)."""
        if isinstance(error, ConcurrencyError) and error.code == "run_already_active":
            return None
        try:
            await self.manager.fail_run(run_id, error)
            return await self._result_from_store(run_id)
        except Exception:
            logger.exception("could not record run %s as failed", run_id)
            return None

    async def _execute(self, entry: _Entry) -> RunResult:
        entry.state = _RUNNING
        return await self.manager.execute_run(
            entry.run_id, options=entry.options, timeout=entry.timeout, on_event=entry.on_event
        )

    async def _record_cancel(self, entry: _Entry) -> RunResult:
        await self.manager.cancel_run(entry.run_id, reason=entry.cancel_reason)
        return await self._result_from_store(entry.run_id)

    async def _cancel_queued(self, entry: _Entry, reason: str | None) -> None:
        with contextlib.suppress(ValueError):
            self._queue.remove(entry)
        entry.cancel_requested = True
        entry.cancel_reason = reason
        entry.state = _STARTING  # no longer queued; counted until recorded
        try:
            result = await self._record_cancel(entry)
        except Exception as exc:
            self._complete(entry, error=_as_error(exc))
            raise
        self._complete(entry, result=result)

    async def _cancel_in_flight(self, entry: _Entry, reason: str | None) -> None:
        if not entry.cancel_requested:
            entry.cancel_requested = True
            entry.cancel_reason = reason
            # A run the manager is executing is cancelled through it (the reason is kept and
            # the adapter stopped); one still starting (waiting for a slot) by its task.
            if self.manager.is_executing(entry.run_id):
                await self.manager.cancel_run(entry.run_id, reason=reason)
            elif entry.task is not None:
                entry.task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.shield(entry.done)

    def _complete(
        self, entry: _Entry, *, result: RunResult | None = None, error: ASMError | None = None
    ) -> None:
        self._entries.pop(entry.run_id, None)
        future = entry.done
        if not future.done():
            if error is not None:
                future.set_exception(error)
                future.exception()  # retrieved: awaiting is optional
            else:
                assert result is not None
                future.set_result(result)
        if self._retained:
            self._finished[entry.run_id] = future
            while len(self._finished) > self._retained:
                self._finished.popitem(last=False)
        if not self._entries:
            self._idle.set()
        self._pump()

    async def _own_run(self, run_id: str) -> Run:
        run = await self.manager.store.get_run(run_id)
        if run.session_id != self.session_id:
            raise RunNotFound(f"run {run_id} does not belong to session {self.session_id}")
        return run

    async def _result_from_store(self, run_id: str) -> RunResult:
        run = await self._own_run(run_id)
        if not run.status.is_terminal:
            raise RunNotFound(
                f"run {run_id} was not submitted to this session server (it is {run.status})"
            )
        session = await self.manager.get_session(self.session_id)
        events = await self.manager.store.get_events(self.session_id, run_id=run_id)
        return RunResult(run, session, tuple(events))


class Subscription:
    """A durable, ordered, exactly-once event feed of one session (see
    :meth:`SessionServer.subscribe`). Iterate it with ``async for``; ``aclose()`` ends it.

    It reads through a :func:`~agent_session_manager.store.follow.follow_events` iterator that
    ``feed(cursor)`` opens, and keeps only what a subscriber needs on top: ``cursor``, the
    ``sequence_number`` of the last event delivered, and closing. A consumer cancelled while it
    waits (``asyncio.wait_for(anext(sub), …)``) finishes that iterator; the next ``anext``
    opens a new one at ``cursor``, so nothing is skipped or repeated.
    """

    def __init__(
        self,
        feed: Callable[[int], AsyncGenerator[Event, None]],
        *,
        after: int = 0,
        on_close: Callable[[Subscription], None] | None = None,
    ) -> None:
        self.cursor = after
        self._feed = feed
        self._events: AsyncGenerator[Event, None] | None = feed(after)  # checks the arguments
        self._on_close = on_close
        self._closed = False
        self._pulling = False  # a task is inside __anext__: the iterator cannot be closed now

    def __aiter__(self) -> Self:
        return self

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """End the feed; a task waiting in it gets ``StopAsyncIteration`` at its next event."""
        self._finish()
        if not self._pulling and self._events is not None:
            await self._events.aclose()

    async def __anext__(self) -> Event:
        if self._closed:
            raise StopAsyncIteration
        if self._events is None:
            self._events = self._feed(self.cursor)
        self._pulling = True
        try:
            event = await anext(self._events)
        except asyncio.CancelledError:
            self._events = None  # finished by the cancellation; reopened at the cursor
            raise
        except BaseException:  # exhausted or failed
            self._finish()
            raise
        finally:
            self._pulling = False
        if self._closed:  # closed by another task while this one waited
            await self._events.aclose()
            raise StopAsyncIteration
        self.cursor = event.sequence_number or self.cursor
        return event

    def _finish(self) -> None:
        if not self._closed:
            self._closed = True
            if self._on_close is not None:
                self._on_close(self)


def _session_not_active(error: ASMError, session_id: str) -> bool:
    """Whether ``execute_run`` refused the run because its session is no longer active."""
    return isinstance(error, InvalidTransition) and error.details.get("id") == session_id


def _as_error(exc: BaseException) -> ASMError:
    if isinstance(exc, ASMError):
        return exc
    if isinstance(exc, asyncio.CancelledError):
        return ASMError("run task was cancelled before the cancel was recorded", code="cancelled")
    error = ASMError(f"Run task crashed: {type(exc).__name__}: {exc}", code="internal_error")
    error.__cause__ = exc
    return error
