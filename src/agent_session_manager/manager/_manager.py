"""SessionManager: sessions and their lifecycle, and the claiming and ending of runs.

It claims a pending run (a guarded write: one executor per run, in any process), hands it to a
:class:`RunDriver` for the awaits of its execution, and ends runs it does not execute (cancel,
fail) through the same guarded write and :class:`RunTally` conclusion the driver uses, so every
run gets exactly one terminal status and event, whoever ends it. It knows the ports, the pipeline
and the instrumentation hook; no backend, no provider.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from agent_session_manager.core.capabilities import CapabilityResolver, CapabilityType
from agent_session_manager.core.errors import (
    ASMError,
    ConcurrencyError,
    InvalidTransition,
    RunCancelled,
    ValidationError,
    error_event_data,
)
from agent_session_manager.core.events import Event, EventType
from agent_session_manager.core.lifecycle import RunStatus, SessionStatus
from agent_session_manager.core.models import Message, Run, Session, normalize_input
from agent_session_manager.core.options import DEFAULT_RUN_TIMEOUT, USE_DEFAULT_TIMEOUT, UseDefault
from agent_session_manager.core.redaction import Redactor
from agent_session_manager.core.run_tally import Conclusion, RunTally
from agent_session_manager.manager._driver import RunDriver
from agent_session_manager.manager._result import Ended, RunResult
from agent_session_manager.pipeline import EmitContext, EventCallback, EventPipeline
from agent_session_manager.providers.protocol import AdapterOptions, ProviderAdapter, RunRequest
from agent_session_manager.store.follow import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_WAIT_TIMEOUT,
    follow_events,
)
from agent_session_manager.store.protocol import SessionStore
from agent_session_manager.telemetry import Instrumentation, RunObserver, resolve_instrumentation

logger = logging.getLogger(__name__)

_SESSION_EVENTS = {
    SessionStatus.ACTIVE: EventType.SESSION_STARTED,
    SessionStatus.PAUSED: EventType.SESSION_PAUSED,
    SessionStatus.COMPLETED: EventType.SESSION_COMPLETED,
    SessionStatus.FAILED: EventType.SESSION_FAILED,
    SessionStatus.CANCELLED: EventType.SESSION_CANCELLED,
}
_STATE_CHANGED = "run_state_changed"
#: How long an adapter gets to stop (its ``cancel`` and its stream) before the run is ended
#: without waiting for it any longer (``SessionManager(cancel_grace=...)``).
DEFAULT_CANCEL_GRACE = 5.0


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
        self._active: dict[str, RunDriver] = {}
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
            driver = RunDriver(self, run, request, on_event, hook)
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

    async def _end_run(self, run: Run, conclusion: Conclusion, context: EmitContext) -> Ended:
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
            return Ended(await self.store.get_run(run.id), None, (), won=False)
        return Ended(final, session, tuple(stored), won=True)

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
