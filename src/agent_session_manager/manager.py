"""SessionManager: sessions and their lifecycle, and one run from start to its terminal state.

The manager owns the run lifecycle; adapters only report what the provider does. Whatever happens
(success, provider error, malformed provider output, timeout, cancel, a failing user callback, the
caller's own task being cancelled), a run ends with exactly one terminal status and one terminal
event, written atomically with the run record by ``store.flush``, and the events that came before
are kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from time import time_ns
from typing import Any

from agent_session_manager.core.capabilities import CapabilityResolver, CapabilityType
from agent_session_manager.core.errors import (
    ASMError,
    ConcurrencyError,
    InvalidTransition,
    ProviderError,
    RunCancelled,
    RunTimeout,
    ValidationError,
    error_event_data,
)
from agent_session_manager.core.events import TERMINAL_RUN_EVENTS, Event, EventType
from agent_session_manager.core.lifecycle import RunStatus, SessionStatus
from agent_session_manager.core.models import Message, Run, Session, normalize_input
from agent_session_manager.core.options import DEFAULT_RUN_TIMEOUT as DEFAULT_RUN_TIMEOUT
from agent_session_manager.core.options import USE_DEFAULT_TIMEOUT, UseDefault
from agent_session_manager.core.redaction import Redactor
from agent_session_manager.core.run_tally import (
    ADAPTER_LIFECYCLE,
    TRACKED,
    Conclusion,
    RunTally,
    as_run_error,
)
from agent_session_manager.core.usage import TokenUsage
from agent_session_manager.pipeline import (
    EmitContext,
    EventCallback,
    EventPipeline,
    invoke_callback,
    invoke_callbacks,
)
from agent_session_manager.providers.protocol import (
    AdapterOptions,
    ProviderAdapter,
    ProviderEvent,
    RunRequest,
)
from agent_session_manager.store.follow import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_WAIT_TIMEOUT,
    follow_events,
)
from agent_session_manager.store.protocol import SessionStore
from agent_session_manager.telemetry import Instrumentation, RunObserver, resolve_instrumentation

__all__ = ["DEFAULT_CANCEL_GRACE", "DEFAULT_RUN_TIMEOUT", "RunResult", "SessionManager"]

logger = logging.getLogger(__name__)

_SESSION_EVENTS = {
    SessionStatus.ACTIVE: EventType.SESSION_STARTED,
    SessionStatus.PAUSED: EventType.SESSION_PAUSED,
    SessionStatus.COMPLETED: EventType.SESSION_COMPLETED,
    SessionStatus.FAILED: EventType.SESSION_FAILED,
    SessionStatus.CANCELLED: EventType.SESSION_CANCELLED,
}
_STATE_CHANGED = "run_state_changed"
_TERMINAL_TYPES = tuple(str(kind) for kind in TERMINAL_RUN_EVENTS)
#: How long an adapter gets to stop (its ``cancel`` and its stream) before the run is ended
#: without waiting for it any longer (``SessionManager(cancel_grace=...)``).
DEFAULT_CANCEL_GRACE = 5.0
#: A run without an append for this long is watched through the store for a cancel written by
#: another manager or process (a busy run learns of it from its next append).
_QUIET_S = 0.5
#: The longest single store wait of that watch (then it looks at the log's end again).
_WATCH_S = 5.0


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run. Run-level failures are values here, not exceptions: check
    :attr:`ok` or call :meth:`raise_for_status`."""

    run: Run
    session: Session
    events: tuple[Event, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return self.run.status is RunStatus.COMPLETED

    @property
    def status(self) -> RunStatus:
        return self.run.status

    @property
    def run_id(self) -> str:
        return self.run.id

    @property
    def session_id(self) -> str:
        return self.run.session_id

    @property
    def output(self) -> dict[str, Any]:
        return self.run.output or {}

    @property
    def content(self) -> str:
        """The assistant's text for this run ("" when the run produced none)."""
        value = self.output.get("content", "")
        return value if isinstance(value, str) else ""

    @property
    def token_usage(self) -> TokenUsage:
        return self.run.token_usage

    @property
    def cost_usd(self) -> float | None:
        return self.run.cost_usd

    @property
    def provider(self) -> str | None:
        return self.run.provider

    @property
    def provider_session_id(self) -> str | None:
        return self.run.provider_session_id

    @property
    def error(self) -> ASMError | None:
        return self.run.error_object

    def raise_for_status(self) -> None:
        """Raise the run's error unless it completed."""
        if self.ok:
            return
        raise self.error or ASMError(f"run {self.run_id} ended {self.status}")


class SessionManager:
    """Orchestrates sessions and runs over one store and one provider adapter.

    ``redaction`` (on by default) replaces secrets in every event before it is stored; pass a
    :class:`Redactor` to add patterns, or ``False`` to store payloads verbatim.
    ``instrumentation`` receives lifecycle and run hooks (see the ``telemetry`` module): by
    default OpenTelemetry spans and metrics, which cost next to nothing and export nothing until
    an OpenTelemetry SDK is configured; pass a ``Telemetry``, an ``AuditLog``, a list of them, or
    ``None`` for none. ``cancel_grace`` (seconds) bounds how long a stopped adapter (timeout,
    cancel) is waited for: one whose ``cancel`` or stream hangs is left behind, logged, and the
    run still ends.
    """

    def __init__(
        self,
        store: SessionStore,
        adapter: ProviderAdapter,
        *,
        redaction: Redactor | bool = True,
        default_timeout: float | None = DEFAULT_RUN_TIMEOUT,
        instrumentation: Instrumentation | Sequence[Instrumentation] | bool | None = True,
        cancel_grace: float = DEFAULT_CANCEL_GRACE,
    ) -> None:
        self.store = store
        self.adapter = adapter
        redactor = Redactor() if redaction is True else (redaction or None)
        self.pipeline = EventPipeline(redactor=redactor)
        self.default_timeout = default_timeout
        if cancel_grace <= 0:
            raise ValidationError(f"cancel_grace must be positive, got {cancel_grace!r}")
        self.cancel_grace = cancel_grace
        self._active: dict[str, _RunDriver] = {}
        # Runs between execute_run's first check and their driver's registration: a cancel that
        # lands there is recorded here and honoured instead of being overwritten by "running".
        self._starting: dict[str, _Starting] = {}
        self.instrumentation = resolve_instrumentation(instrumentation)

    def _session_hook(self, session: Session, events: Sequence[Event]) -> None:
        if self.instrumentation is not None:
            try:
                for event in events:
                    self.instrumentation.session_event(session, event)
            except Exception:
                logger.exception("instrumentation failed on a session event of %s", session.id)

    def _run_hook(self, run: Run, session: Session, model: str | None) -> RunObserver | None:
        if self.instrumentation is None:
            return None
        try:
            return self.instrumentation.start_run(run, session, model)
        except Exception:
            logger.exception("instrumentation failed to start run %s", run.id)
            return None

    # -- sessions ---------------------------------------------------------------------------
    async def start_session(
        self,
        agent_id: str | None = None,
        *,
        system_prompt: str | None = None,
        context: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] = (),
        workspace: str | None = None,
    ) -> Session:
        """Create a ``pending`` session (``agent_id`` defaults to the adapter's name)."""
        ctx = dict(context or {})
        if system_prompt is not None:
            ctx["system_prompt"] = system_prompt
        try:
            session = Session(
                agent_id=agent_id or self.adapter.name,
                context=ctx,
                metadata=dict(metadata or {}),
                tags=tuple(tags),
                provider=self.adapter.name,
                workspace=workspace,
            )
        except ValueError as exc:
            raise ValidationError(f"invalid session: {exc}") from exc
        created = self.pipeline.build(
            EmitContext(session.id, provider=self.adapter.name),
            EventType.SESSION_CREATED,
            {"agent_id": session.agent_id, "provider": self.adapter.name},
        )
        stored = await self.store.flush(session=session, events=[created])
        self._session_hook(session, stored)
        return session

    async def get_session(self, session_id: str) -> Session:
        return await self.store.get_session(session_id)

    async def activate_session(self, session_id: str) -> Session:
        """``pending → active``."""
        return await self._move_session(session_id, SessionStatus.ACTIVE, {})

    async def pause_session(self, session_id: str, *, reason: str | None = None) -> Session:
        """``active → paused``: new runs are refused until :meth:`resume_session`."""
        data = {"reason": reason} if reason else {}
        return await self._move_session(session_id, SessionStatus.PAUSED, data)

    async def resume_session(self, session_id: str) -> Session:
        """``paused → active``."""
        session = await self.store.get_session(session_id)
        if session.status is not SessionStatus.PAUSED:
            raise InvalidTransition(
                f"session {session_id} is {session.status}, only a paused session can resume",
                details={"id": session_id, "from": str(session.status), "to": "active"},
            )
        return await self._move_session(
            session_id, SessionStatus.ACTIVE, {}, event_type=EventType.SESSION_RESUMED
        )

    async def complete_session(self, session_id: str) -> Session:
        """End the session normally. Refused while one of its runs executes (here or in another
        process): ``ConcurrencyError`` with code ``session_busy`` naming the runs; let them end
        or cancel them first, so no run's events land after ``session_completed``."""
        running = [r.id for r in await self.store.list_runs(session_id, status=RunStatus.RUNNING)]
        if running:
            raise ConcurrencyError(
                f"session {session_id} has runs executing ({', '.join(running)}); "
                "wait for them or cancel them before completing it",
                code="session_busy",
                details={"id": session_id, "running_runs": running},
            )
        return await self._move_session(session_id, SessionStatus.COMPLETED, {})

    async def fail_session(self, session_id: str, error: ASMError | str) -> Session:
        err = error if isinstance(error, ASMError) else ASMError(str(error))
        return await self._move_session(session_id, SessionStatus.FAILED, error_event_data(err))

    async def cancel_session(self, session_id: str, *, reason: str | None = None) -> Session:
        """Cancel the session and every run of it that has not ended: pending ones at once,
        executing ones by stopping them (here, or through the store in another process)."""
        for driver in [d for d in self._active.values() if d.session_id == session_id]:
            await self.cancel_run(driver.run_id)
        for run in await self.store.list_runs(session_id):
            if not run.status.is_terminal:
                await self.cancel_run(run.id)
        data = {"reason": reason} if reason else {}
        return await self._move_session(session_id, SessionStatus.CANCELLED, data)

    async def _move_session(
        self,
        session_id: str,
        target: SessionStatus,
        data: dict[str, Any],
        *,
        event_type: EventType | None = None,
    ) -> Session:
        session = (await self.store.get_session(session_id)).transition(target)
        event = self.pipeline.build(
            EmitContext(session.id, provider=session.provider),
            event_type or _SESSION_EVENTS[target],
            data,
        )
        stored = await self.store.flush(
            session=session, events=[event]
        )  # status and event together
        self._session_hook(session, stored)
        return session

    # -- runs -------------------------------------------------------------------------------
    async def start_run(
        self,
        session_id: str,
        input: str | Mapping[str, Any],
        *,
        required_capabilities: Sequence[CapabilityType | str] = (),
        optional_capabilities: Sequence[CapabilityType | str] = (),
        metadata: Mapping[str, Any] | None = None,
        allow_paused: bool = False,
    ) -> Run:
        """Create a ``pending`` run in an active session.

        ``input`` is a prompt string, ``{"prompt": ...}`` or ``{"messages": [{"role", "content"},
        ...]}``. Required capabilities the adapter lacks raise ``ValidationError``
        (``missing_required_capability``) and nothing is created. ``allow_paused`` also accepts a
        paused session, for callers that queue the run until the session resumes (a
        ``SessionServer`` does); executing it still needs an active session.
        """
        session = await self.store.get_session(session_id)
        paused_ok = allow_paused and session.status is SessionStatus.PAUSED
        if session.status is not SessionStatus.ACTIVE and not paused_ok:
            raise InvalidTransition(
                f"session {session_id} is {session.status}; runs need an active session",
                details={"id": session_id, "status": str(session.status)},
            )
        messages = normalize_input(input)
        if required_capabilities or optional_capabilities:
            resolver = _resolver(required_capabilities, optional_capabilities)
            resolver.negotiate(self.adapter.capabilities())
        run = Run(
            session_id=session_id,
            input=self.pipeline.redact({"messages": [m.model_dump() for m in messages]}),
            metadata=dict(metadata or {}),
        )
        await self.store.save_run(run)
        return run

    async def execute_run(
        self,
        run_id: str,
        *,
        options: AdapterOptions | None = None,
        timeout: float | UseDefault | None = USE_DEFAULT_TIMEOUT,
        on_event: EventCallback | None = None,
    ) -> RunResult:
        """Execute a pending run to its terminal state and return the outcome.

        ``timeout`` (seconds; default :data:`DEFAULT_RUN_TIMEOUT`, ``None`` for none) bounds the
        whole run: when it passes, the adapter is stopped and the run ends ``timed_out``.
        ``on_event`` receives every event of the run after it is persisted; if it raises, the run
        is stopped and ends ``failed`` with code ``callback_failed`` (for the terminal event itself
        the run is already final, so the error is logged). Cancelling the calling task cancels
        the run (recorded as ``cancelled``) and then propagates. A run cancelled (or otherwise
        ended) by another manager or process meanwhile is stopped within a second or two and its
        stored outcome is returned.

        Raises only for problems that prevent the run from starting (unknown run, run not
        pending, session not active, a run already executing here or elsewhere:
        ``ConcurrencyError`` with code ``run_already_active``) or a store failure at the end.
        """
        if self.is_executing(run_id):
            raise _already_executing(run_id)
        starting = self._starting[run_id] = _Starting()
        try:
            run = await self.store.get_run(run_id)
            session = await self.store.get_session(run.session_id)
            if session.status is not SessionStatus.ACTIVE:
                raise InvalidTransition(
                    f"session {session.id} is {session.status}; runs need an active session",
                    details={"id": session.id, "status": str(session.status)},
                )
            if starting.cancelled and run.status is RunStatus.PENDING:
                final = await self._end_elsewhere(
                    run_id, RunCancelled("run cancelled"), starting.reason
                )
                return RunResult(final, session, ())
            opts = options or AdapterOptions()
            if opts.system_prompt is None and session.system_prompt is not None:
                opts = opts.model_copy(update={"system_prompt": session.system_prompt})
            if opts.cwd is None and session.workspace is not None:
                opts = opts.model_copy(update={"cwd": session.workspace})
            run = await self._claim(run, opts.model)
            handle = session.provider_handles.get(self.adapter.name)
            request = RunRequest(
                run_id=run.id,
                session_id=session.id,
                messages=tuple(Message.model_validate(m) for m in run.input.get("messages", ())),
                options=opts,
                provider_session_id=handle.provider_session_id if handle else None,
            )
            hook = self._run_hook(run, session, opts.model)
            driver = _RunDriver(self, run, request, on_event, hook)
            if starting.cancelled:  # arrived while the run was being marked running
                driver.request_cancel(starting.reason)
            self._active[run_id] = driver
        finally:
            del self._starting[run_id]
            starting.done.set()
        if isinstance(timeout, UseDefault):
            timeout = self.default_timeout
        try:
            return await driver.drive(timeout)
        finally:
            del self._active[run_id]

    async def _claim(self, run: Run, model: str | None) -> Run:
        """``pending → running`` as a compare-and-set: of two managers (in any processes)
        claiming one run, exactly one wins; the other writes nothing and raises."""
        if run.status is RunStatus.RUNNING:
            raise _already_executing(run.id)
        running = run.transition(RunStatus.RUNNING, provider=self.adapter.name, model=model)
        try:
            await self.store.flush(run=running, run_from=RunStatus.PENDING)
        except ConcurrencyError as exc:
            if exc.code != _STATE_CHANGED:
                raise
            stored = await self.store.get_run(run.id)
            if stored.status is RunStatus.RUNNING:
                raise _already_executing(run.id) from exc
            raise InvalidTransition(
                f"run {run.id} is {stored.status}; only a pending run can execute",
                details={"id": run.id, "from": str(stored.status), "to": "running"},
            ) from exc
        return running

    async def cancel_run(self, run_id: str, *, reason: str | None = None) -> Run:
        """Cancel a run: a pending one at once, an executing one by stopping its adapter.

        A run executing in another manager or process is recorded ``cancelled`` in the store;
        its executor notices and stops its adapter. Returns the run in its final state.
        Cancelling a run that already ended is a no-op that returns it unchanged.
        """
        starting = self._starting.get(run_id)
        if starting is not None:  # execute_run is loading it: let it honour the cancel
            starting.cancel(reason)
            await starting.done.wait()
        driver = self._active.get(run_id)
        if driver is not None:
            await driver.cancel(reason)
            return await self.store.get_run(run_id)
        return await self._end_elsewhere(run_id, RunCancelled("run cancelled"), reason)

    async def fail_run(self, run_id: str, error: ASMError | str) -> Run:
        """Record a run that cannot execute as ``failed`` with ``error`` (one ``run_failed``
        event). For a run not executing in this manager (cancel a run executing here with
        :meth:`cancel_run`); a run that already ended is returned unchanged."""
        if self.is_executing(run_id):
            raise ConcurrencyError(
                f"run {run_id} is executing in this manager; cancel it with cancel_run",
                code="run_already_active",
            )
        err = error if isinstance(error, ASMError) else ASMError(str(error))
        return await self._end_elsewhere(run_id, err, None)

    def is_executing(self, run_id: str) -> bool:
        """Whether this manager is executing (or starting to execute) the run."""
        return run_id in self._active or run_id in self._starting

    async def _end_elsewhere(self, run_id: str, error: ASMError, reason: str | None) -> Run:
        """End a run this manager does not execute (pending, or running in another manager):
        one guarded write, tried again only when the run moved on meanwhile (a pending run
        claimed by an executor is then ended as running; its executor notices and stops)."""
        while True:
            run = await self.store.get_run(run_id)
            if run.status.is_terminal:
                return run
            tally = RunTally(run.provider or self.adapter.name, started=False)
            conclusion = tally.conclude(error, cancel_reason=reason, redact=self._redact)
            context = EmitContext(run.session_id, run.id, run.provider)
            ended = await self._end_run(run, conclusion, context)
            if ended.won:
                return ended.run

    async def _end_run(self, run: Run, conclusion: Conclusion, context: EmitContext) -> _Ended:
        """Write a run's terminal state, its events and the session's provider handle in one
        transaction, only if the stored run still has the status ``run`` has. If another writer
        moved it first, nothing is written and the stored run is returned (``won`` false)."""
        final = run.transition(conclusion.status, **conclusion.run_changes)
        events = [self.pipeline.build(context, kind, data) for kind, data in conclusion.events]
        session: Session | None = None
        if conclusion.handle is not None:
            session = (await self.store.get_session(run.session_id)).with_provider_handle(
                self.adapter.name, conclusion.handle
            )
        try:
            stored = await self.store.flush(
                run=final, session=session, events=events, run_from=run.status
            )
        except ConcurrencyError as exc:
            if exc.code != _STATE_CHANGED:
                raise
            return _Ended(await self.store.get_run(run.id), None, (), won=False)
        return _Ended(final, session, tuple(stored), won=True)

    def _redact(self, value: Any) -> Any:
        return self.pipeline.redact(value)

    async def run_once(
        self,
        input: str | Mapping[str, Any],
        *,
        agent_id: str | None = None,
        system_prompt: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] = (),
        options: AdapterOptions | None = None,
        timeout: float | UseDefault | None = USE_DEFAULT_TIMEOUT,
        on_event: EventCallback | None = None,
    ) -> RunResult:
        """Create a session, execute one run in it and close the session.

        The session ends ``completed`` when the run completes, ``cancelled`` when it was
        cancelled, else ``failed``.
        """
        session = await self.start_session(
            agent_id, system_prompt=system_prompt, metadata=metadata, tags=tags
        )
        await self.activate_session(session.id)
        try:
            run = await self.start_run(session.id, input)
        except ASMError as exc:
            await self.fail_session(session.id, exc)
            raise
        try:
            result = await self.execute_run(
                run.id, options=options, timeout=timeout, on_event=on_event
            )
        except asyncio.CancelledError:
            await asyncio.shield(self._close_session(session.id, RunStatus.CANCELLED, None))
            raise
        final = await self._close_session(session.id, result.status, result.error)
        return RunResult(result.run, final, result.events)

    async def _close_session(
        self, session_id: str, status: RunStatus, error: ASMError | None
    ) -> Session:
        if status is RunStatus.COMPLETED:
            return await self.complete_session(session_id)
        if status is RunStatus.CANCELLED:
            return await self._move_session(session_id, SessionStatus.CANCELLED, {})
        return await self.fail_session(session_id, error or ASMError(f"run ended {status}"))

    # -- reading ----------------------------------------------------------------------------
    def stream_session_events(
        self,
        session_id: str,
        *,
        after: int = 0,
        before: int | None = None,
        follow: bool = True,
        run_id: str | None = None,
        types: Sequence[str] | None = None,
        limit: int | None = None,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        page_size: int = DEFAULT_PAGE_SIZE,
        stop: asyncio.Event | None = None,
    ) -> AsyncIterator[Event]:
        """Yield the session's events after the cursor ``after``, oldest first.

        With ``follow`` (default) the iterator keeps waiting for new events, woken by the
        append itself, until the consumer stops iterating, ``limit`` or ``before`` is reached
        or ``stop`` is set; without it, it ends once the existing events are delivered. The
        same iterator as :func:`~agent_session_manager.store.follow.follow_events`.
        """
        return follow_events(
            self.store,
            session_id,
            after=after,
            before=before,
            run_id=run_id,
            types=types,
            limit=limit,
            follow=follow,
            page_size=page_size,
            wait_timeout=wait_timeout,
            stop=stop,
        )


class _Starting:
    """A run execute_run is loading; a cancel arriving meanwhile is parked here."""

    def __init__(self) -> None:
        self.cancelled = False
        self.reason: str | None = None
        self.done = asyncio.Event()

    def cancel(self, reason: str | None) -> None:
        self.cancelled = True
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Ended:
    """The outcome of a guarded terminal write: the run as stored, and whether we wrote it."""

    run: Run
    session: Session | None
    events: tuple[Event, ...]
    won: bool


class _RunDriver:
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


def _already_executing(run_id: str) -> ConcurrencyError:
    return ConcurrencyError(
        f"run {run_id} is already executing", code="run_already_active", details={"id": run_id}
    )


def _resolver(
    required: Sequence[CapabilityType | str], optional: Sequence[CapabilityType | str]
) -> CapabilityResolver:
    try:
        return CapabilityResolver(
            required=frozenset(CapabilityType(c) for c in required),
            optional=frozenset(CapabilityType(c) for c in optional),
        )
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_capability_type") from exc
