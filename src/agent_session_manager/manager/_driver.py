"""The run driver: one run's awaits around a ``RunTally`` (``core.run_tally``).

It feeds the adapter's events through the pipeline into the store, watches the store for the run
being ended by another writer while the adapter is quiet (a busy run learns of it from its next
append, which the store refuses), bounds every wait on a stopping adapter, and ends the run once
through the manager's guarded write. The rules (what an event means, how a run ends) are the
tally's; this module awaits. It knows the ports and the manager it serves, no backend.
"""

from __future__ import annotations

import asyncio
import logging
from time import time_ns
from typing import TYPE_CHECKING, Any

from agent_session_manager.core.errors import ASMError, ProviderError, RunCancelled, RunTimeout
from agent_session_manager.core.events import TERMINAL_RUN_EVENTS, Event, EventType
from agent_session_manager.core.models import Run
from agent_session_manager.core.run_tally import ADAPTER_LIFECYCLE, TRACKED, RunTally, as_run_error
from agent_session_manager.manager._result import RunResult
from agent_session_manager.pipeline import (
    EmitContext,
    EventCallback,
    invoke_callback,
    invoke_callbacks,
)
from agent_session_manager.providers.protocol import ProviderEvent, RunRequest
from agent_session_manager.telemetry import RunObserver

if TYPE_CHECKING:
    from agent_session_manager.manager._manager import SessionManager

logger = logging.getLogger(__name__)

_TERMINAL_TYPES = tuple(TERMINAL_RUN_EVENTS)
#: A run without an append for this long is watched through the store for a cancel written by
#: another manager or process (a busy run learns of it from its next append).
_QUIET_S = 0.5
#: The longest single store wait of that watch (then it looks at the log's end again).
_WATCH_S = 5.0


class RunDriver:
    """Drives one run: the awaits around a :class:`RunTally`, which holds the rules.

    Feeds adapter events through the pipeline into the store, watches the store for the run
    being ended by another writer while the adapter is quiet (a busy run learns of it from its
    next append, which the store refuses), and finalizes exactly once with a guarded write.
    """

    def __init__(
        self,
        manager: SessionManager,
        run: Run,
        request: RunRequest,
        on_event: EventCallback | None,
        observer: RunObserver | None = None,
    ) -> None:
        self.manager = manager
        self.observer = observer
        # The per-event hook is looked up once: None unless an observer asked for events.
        self._event_hook = observer.event_stored if observer and observer.wants_events else None
        self._flush_started: int | None = None
        self.run = run
        self.request = request
        self.on_event = on_event
        self.context = EmitContext(run.session_id, run.id, manager.adapter.name)
        self.run_id = run.id
        self.session_id = run.session_id
        self.tally = RunTally(manager.adapter.name, request.options.model)
        self._task: asyncio.Task[None] | None = None
        self._cancel_reason: str | None = None
        self._cancel_requested = False
        self._finished = asyncio.Event()
        self._events: list[Event] = []
        # The number of our last append, and the store wait of the watcher (if parked): an
        # append wakes it up and the watcher parks again once the run has been quiet a while.
        self._last_sequence: int | None = 0
        self._parked: asyncio.Task[list[Event]] | None = None

    # -- public -----------------------------------------------------------------------------
    async def drive(self, timeout: float | None) -> RunResult:
        try:
            outcome = await self._execute(timeout)
        except asyncio.CancelledError:
            # The caller's task was cancelled: record the run as cancelled, then propagate.
            await asyncio.shield(self._finalize(RunCancelled("the calling task was cancelled")))
            raise
        return await self._finalize(outcome)

    def request_cancel(self, reason: str | None) -> None:
        """Mark the run cancelled before it starts: it ends ``cancelled`` without the adapter."""
        self._cancel_requested = True
        self._cancel_reason = reason

    async def cancel(self, reason: str | None) -> None:
        self.request_cancel(reason)
        if self._task is not None and not self._task.done():
            self._task.cancel()
        await self._stop_adapter()
        await self._finished.wait()

    # -- execution --------------------------------------------------------------------------
    async def _execute(self, timeout: float | None) -> ASMError | None:
        """Run the adapter; return the error that ended the run, or None on success."""
        if self._cancel_requested:
            return RunCancelled("run cancelled before it started")
        try:
            for message in self.request.messages:
                await self._emit(EventType.MESSAGE_SENT, message.model_dump())
        except ASMError as exc:
            return exc
        self._observe("provider_call_started")
        outcome: ASMError | None = None
        try:
            outcome = await self._wait_for_provider(timeout)
        finally:
            self._observe("provider_call_finished", outcome)
        return outcome

    async def _wait_for_provider(self, timeout: float | None) -> ASMError | None:
        task = self._task = asyncio.create_task(self._consume(), name=f"asm-run-{self.run_id}")
        watcher = asyncio.create_task(self._watch_store(), name=f"asm-run-watch-{self.run_id}")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        waiting: set[asyncio.Task[Any]] = {task, watcher}
        try:
            while True:
                remaining = None if deadline is None else max(0.0, deadline - loop.time())
                done, _ = await asyncio.wait(
                    waiting, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if task in done:
                    break
                if watcher in done:
                    waiting.discard(watcher)
                    if watcher.result():
                        await self._abort_task()
                        return RunCancelled("run ended by another manager")
                    continue
                await self._abort_task()
                return RunTimeout(
                    f"run exceeded its timeout of {timeout:g} s",
                    details={"timeout_s": timeout},
                )
        except asyncio.CancelledError:
            await self._abort_task()
            raise
        finally:
            watcher.cancel()
        if self._cancel_requested or task.cancelled():
            return RunCancelled("run cancelled")
        failure = task.exception()
        return None if failure is None else as_run_error(failure)

    async def _watch_store(self) -> bool:
        """True once the store shows this run ended by another writer (a cancel from another
        manager or process). Only a quiet run is watched: a busy one learns it at once from
        its next append, which the store refuses. Store trouble only ends the watch."""
        store = self.manager.store
        try:
            while True:
                seen: int | None = -1
                while seen != self._last_sequence:  # wait for a quiet spell
                    seen = self._last_sequence
                    await asyncio.sleep(_QUIET_S)
                # From our own last event on: a terminal one written before we parked counts.
                parked = self._parked = asyncio.ensure_future(
                    store.wait_for_events(
                        self.session_id,
                        after=self._last_sequence or 0,
                        timeout=_WATCH_S,
                        run_id=self.run_id,
                        types=_TERMINAL_TYPES,
                        limit=1,
                    )
                )
                try:
                    await asyncio.wait({parked})
                finally:
                    self._parked = None
                    parked.cancel()
                if not parked.cancelled() and parked.result():
                    return True
        except Exception:
            logger.exception("could not watch run %s for a cancel from elsewhere", self.run_id)
            return False

    def _observe(self, hook: str, *args: Any) -> None:
        if self.observer is not None:
            try:
                getattr(self.observer, hook)(*args)
            except Exception:
                logger.exception("instrumentation %s failed for run %s", hook, self.run_id)

    async def _abort_task(self) -> None:
        """Stop the adapter and its stream, waiting for them at most ``cancel_grace``: an
        adapter that ignores the stop is left behind (and logged), never waited for forever."""
        assert self._task is not None
        self._task.cancel()
        await self._stop_adapter()
        grace = self.manager.cancel_grace
        done, _ = await asyncio.wait({self._task}, timeout=grace)
        if not done:
            logger.error(
                "adapter %s did not stop run %s within %g s; abandoning it",
                self.manager.adapter.name,
                self.run_id,
                grace,
            )

    async def _stop_adapter(self) -> None:
        grace = self.manager.cancel_grace
        cancelling = asyncio.ensure_future(self.manager.adapter.cancel(self.run_id))
        done, _ = await asyncio.wait({cancelling}, timeout=grace)
        if not done:
            cancelling.cancel()
            logger.error(
                "adapter %s: cancel(%s) did not return within %g s",
                self.manager.adapter.name,
                self.run_id,
                grace,
            )
        elif not cancelling.cancelled() and cancelling.exception() is not None:
            logger.error(
                "adapter %s failed to cancel run %s",
                self.manager.adapter.name,
                self.run_id,
                exc_info=cancelling.exception(),
            )

    async def _consume(self) -> None:
        stream = self.manager.adapter.stream(self.request)
        try:
            async for item in stream:
                if self._cancel_requested:
                    return
                await self._handle(item)
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _handle(self, item: ProviderEvent) -> None:
        if item.__class__ is not ProviderEvent and not isinstance(item, ProviderEvent):
            raise ProviderError(
                f"adapter yielded {type(item).__name__}, expected ProviderEvent",
                code="provider_protocol_error",
            )
        kind = item.type
        if kind in ADAPTER_LIFECYCLE:
            self.tally.absorb(kind, item.data)
            return
        tally = self.tally
        if not tally.announced:
            await self._emit(EventType.RUN_STARTED, tally.announce())
        data = (await self._emit(kind, item.data)).data  # the stored, redacted copy
        if kind in TRACKED:
            tally.track(kind, data)

    async def _emit(self, kind: str, data: Any) -> Event:
        try:
            event = self.manager.pipeline.build(self.context, kind, data)
        except ASMError as exc:
            raise ProviderError(
                f"provider emitted a malformed event: {exc.message}",
                code="provider_protocol_error",
                details=exc.details,
            ) from exc
        if self._parked is not None:
            self._parked.cancel()
        hook = self._event_hook
        if hook is None:
            stored = await self.manager.store.append_event(event)
        else:
            started = time_ns()
            stored = await self.manager.store.append_event(event)
            try:
                hook(stored, started)
            except Exception:
                logger.exception("instrumentation failed on an event of run %s", self.run_id)
        self._events.append(stored)
        self._last_sequence = stored.sequence_number
        if self.on_event is not None:
            await invoke_callback(self.on_event, stored)
        return stored

    # -- finalization -----------------------------------------------------------------------
    async def _finalize(self, error: ASMError | None) -> RunResult:
        try:
            result = await self._write_final(error)
        except BaseException as exc:
            self._observe("run_finished", None, (), self._flush_started, exc)
            raise
        finally:
            self._finished.set()
        return result

    async def _write_final(self, error: ASMError | None) -> RunResult:
        manager = self.manager
        if error is None and self._cancel_requested:
            error = RunCancelled("run cancelled")
        conclusion = self.tally.conclude(
            error, cancel_reason=self._cancel_reason, redact=manager.pipeline.redact
        )
        self._flush_started = time_ns()
        ended = await manager._end_run(self.run, conclusion, self.context)
        session = ended.session or await manager.store.get_session(self.session_id)
        if not ended.won:
            # Ended from elsewhere (another manager or process): its outcome stands.
            self._observe("run_finished", ended.run, (), None, None)
            return RunResult(ended.run, session, tuple(self._events))
        self._events.extend(ended.events)
        self._observe("run_finished", ended.run, ended.events, self._flush_started, None)
        try:
            await invoke_callbacks(self.on_event, ended.events)
        except ASMError:
            logger.exception("on_event callback failed on the final events of run %s", self.run_id)
        return RunResult(ended.run, session, tuple(self._events))
