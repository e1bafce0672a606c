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
from agent_session_manager.core.clock import utcnow
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
from agent_session_manager.core.events import (
    SESSION_LIFECYCLE_EVENTS,
    TERMINAL_RUN_EVENTS,
    Event,
    EventType,
)
from agent_session_manager.core.lifecycle import RunStatus, SessionStatus
from agent_session_manager.core.models import ProviderHandle, Run, Session
from agent_session_manager.core.redaction import Redactor
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
    Message,
    ProviderAdapter,
    ProviderEvent,
    RunRequest,
)
from agent_session_manager.store.protocol import SessionStore
from agent_session_manager.telemetry import Instrumentation, RunObserver, resolve_instrumentation

logger = logging.getLogger(__name__)

#: Default run timeout in seconds. Coding-agent runs are long; pass ``timeout=None`` for none.
DEFAULT_RUN_TIMEOUT = 1800.0

_DEFAULT: Any = object()
_SESSION_EVENTS = {
    SessionStatus.ACTIVE: EventType.SESSION_STARTED,
    SessionStatus.PAUSED: EventType.SESSION_PAUSED,
    SessionStatus.COMPLETED: EventType.SESSION_COMPLETED,
    SessionStatus.FAILED: EventType.SESSION_FAILED,
    SessionStatus.CANCELLED: EventType.SESSION_CANCELLED,
}
# Event types an adapter reports that the manager does not persist as they come (see
# providers/base.py): run lifecycle is merged into the manager's own events, session lifecycle
# and run input are the manager's alone.
_ADAPTER_LIFECYCLE = frozenset(
    {
        EventType.RUN_STARTED,
        *TERMINAL_RUN_EVENTS,
        *SESSION_LIFECYCLE_EVENTS,
        EventType.MESSAGE_SENT,
    }
)
# Content events whose data feeds the run's result (usage, output text, counters).
_TRACKED = frozenset(
    {
        EventType.TOKEN_USAGE_UPDATED,
        EventType.MESSAGE_RECEIVED,
        EventType.TURN_COMPLETED,
        EventType.TOOL_CALL_STARTED,
    }
)


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
    ``None`` for none.
    """

    def __init__(
        self,
        store: SessionStore,
        adapter: ProviderAdapter,
        *,
        redaction: Redactor | bool = True,
        default_timeout: float | None = DEFAULT_RUN_TIMEOUT,
        instrumentation: Instrumentation | Sequence[Instrumentation] | bool | None = True,
    ) -> None:
        self.store = store
        self.adapter = adapter
        redactor = Redactor() if redaction is True else (redaction or None)
        self.pipeline = EventPipeline(store, redactor=redactor)
        self.default_timeout = default_timeout
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
        return await self._move_session(session_id, SessionStatus.COMPLETED, {})

    async def fail_session(self, session_id: str, error: ASMError | str) -> Session:
        err = error if isinstance(error, ASMError) else ASMError(str(error))
        return await self._move_session(session_id, SessionStatus.FAILED, error_event_data(err))

    async def cancel_session(self, session_id: str, *, reason: str | None = None) -> Session:
        """Cancel the session and every run of it that this manager is executing."""
        for driver in [d for d in self._active.values() if d.session_id == session_id]:
            await self.cancel_run(driver.run_id)
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
    ) -> Run:
        """Create a ``pending`` run in an active session.

        ``input`` is a prompt string, ``{"prompt": ...}`` or ``{"messages": [{"role", "content"},
        ...]}``. Required capabilities the adapter lacks raise ``ValidationError``
        (``missing_required_capability``) and nothing is created.
        """
        session = await self.store.get_session(session_id)
        if session.status is not SessionStatus.ACTIVE:
            raise InvalidTransition(
                f"session {session_id} is {session.status}; runs need an active session",
                details={"id": session_id, "status": str(session.status)},
            )
        return await self._create_run(
            session_id, input, required_capabilities, optional_capabilities, metadata
        )

    async def _create_run(
        self,
        session_id: str,
        input: str | Mapping[str, Any],
        required: Sequence[CapabilityType | str],
        optional: Sequence[CapabilityType | str],
        metadata: Mapping[str, Any] | None,
    ) -> Run:
        """Check the input and capabilities and store a ``pending`` run; the caller has checked
        the session's status."""
        messages = normalize_input(input)
        if required or optional:
            _resolver(required, optional).negotiate(self.adapter.capabilities())
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
        timeout: float | None = _DEFAULT,
        on_event: EventCallback | None = None,
    ) -> RunResult:
        """Execute a pending run to its terminal state and return the outcome.

        ``timeout`` (seconds; default :data:`DEFAULT_RUN_TIMEOUT`, ``None`` for none) bounds the
        whole run: when it passes, the adapter is stopped and the run ends ``timed_out``.
        ``on_event`` receives every event of the run after it is persisted; if it raises, the run
        is stopped and ends ``failed`` with code ``callback_failed`` (for the terminal event itself
        the run is already final, so the error is logged). Cancelling the calling task cancels
        the run (recorded as ``cancelled``) and then propagates.

        Raises only for problems that prevent the run from starting (unknown run, run not
        pending, session not active, a run already executing) or a store failure at the end.
        """
        if self.is_executing(run_id):
            raise ConcurrencyError(f"run {run_id} is already executing", code="run_already_active")
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
                final = await self._cancel_pending(run, starting.reason)
                return RunResult(final, session, ())
            opts = options or AdapterOptions()
            if opts.system_prompt is None and session.system_prompt is not None:
                opts = opts.model_copy(update={"system_prompt": session.system_prompt})
            if opts.cwd is None and session.workspace is not None:
                opts = opts.model_copy(update={"cwd": session.workspace})
            run = run.transition(RunStatus.RUNNING, provider=self.adapter.name, model=opts.model)
            await self.store.save_run(run)
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
        try:
            return await driver.drive(self.default_timeout if timeout is _DEFAULT else timeout)
        finally:
            del self._active[run_id]

    async def cancel_run(self, run_id: str, *, reason: str | None = None) -> Run:
        """Cancel a run: a pending one at once, an executing one by stopping its adapter.

        Returns the run in its final state. Cancelling a run that already ended is a no-op that
        returns it unchanged.
        """
        starting = self._starting.get(run_id)
        if starting is not None:  # execute_run is loading it: let it honour the cancel
            starting.cancel(reason)
            await starting.done.wait()
        driver = self._active.get(run_id)
        if driver is not None:
            await driver.cancel(reason)
            return await self.store.get_run(run_id)
        run = await self.store.get_run(run_id)
        if run.status.is_terminal:
            return run
        # Pending here, or running in another process: record the cancel; a finalizer that
        # finds the run already terminal keeps it so.
        return await self._cancel_pending(run, reason)

    def is_executing(self, run_id: str) -> bool:
        """Whether this manager is executing (or starting to execute) the run."""
        return run_id in self._active or run_id in self._starting

    async def _cancel_pending(self, run: Run, reason: str | None) -> Run:
        final = run.transition(RunStatus.CANCELLED, error=RunCancelled("run cancelled").to_dict())
        context = EmitContext(run.session_id, run.id, run.provider)
        event = self.pipeline.build(
            context, EventType.RUN_CANCELLED, {"reason": reason} if reason else {}
        )
        await self.store.flush(run=final, events=[event])
        return final

    async def run_once(
        self,
        input: str | Mapping[str, Any],
        *,
        agent_id: str | None = None,
        system_prompt: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] = (),
        options: AdapterOptions | None = None,
        timeout: float | None = _DEFAULT,
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
    async def stream_session_events(
        self,
        session_id: str,
        *,
        after: int = 0,
        follow: bool = True,
        run_id: str | None = None,
        types: Sequence[str] | None = None,
        long_poll: bool = True,
        poll_interval: float = 0.25,
        wait_timeout: float = 30.0,
        page_size: int = 500,
    ) -> AsyncIterator[Event]:
        """Yield the session's events after the cursor ``after``, oldest first.

        With ``follow`` (default) the iterator keeps waiting for new events — by long-poll on the
        store (``long_poll=True``, woken by the append itself) or by re-querying every
        ``poll_interval`` seconds — until the consumer stops iterating. Without it, it ends once
        the existing events are delivered.
        """
        cursor = after
        while True:
            events = await self.store.get_events(
                session_id, after=cursor, run_id=run_id, types=types, limit=page_size
            )
            if not events:
                if not follow:
                    return
                if long_poll:
                    events = await self.store.wait_for_events(
                        session_id,
                        after=cursor,
                        timeout=wait_timeout,
                        run_id=run_id,
                        types=types,
                        limit=page_size,
                    )
                else:
                    await asyncio.sleep(poll_interval)
                    continue
            for event in events:
                yield event
                cursor = event.sequence_number or cursor


class _Starting:
    """A run execute_run is loading; a cancel arriving meanwhile is parked here."""

    def __init__(self) -> None:
        self.cancelled = False
        self.reason: str | None = None
        self.done = asyncio.Event()

    def cancel(self, reason: str | None) -> None:
        self.cancelled = True
        self.reason = reason


class _RunDriver:
    """Drives one run: feeds adapter events through the pipeline and finalizes exactly once."""

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
        self._task: asyncio.Task[None] | None = None
        self._cancel_reason: str | None = None
        self._cancel_requested = False
        self._finished = asyncio.Event()
        # What the run has produced so far.
        self._started_data: dict[str, Any] = {"provider": manager.adapter.name}
        if request.options.model:
            self._started_data["model"] = request.options.model
        self._started_persisted = False
        self._usage = TokenUsage()
        self._reported_usage: TokenUsage | None = None
        self._texts: list[str] = []
        self._turns = 0
        self._tool_calls = 0
        self._completion: dict[str, Any] | None = None
        self._events: list[Event] = []

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
        self._task = asyncio.create_task(self._consume(), name=f"asm-run-{self.run_id}")
        try:
            done, _ = await asyncio.wait({self._task}, timeout=timeout)
        except asyncio.CancelledError:
            await self._abort_task()
            raise
        if not done:
            await self._abort_task()
            return RunTimeout(
                f"run exceeded its timeout of {timeout:g} s",
                details={"timeout_s": timeout},
            )
        if self._cancel_requested:
            return RunCancelled("run cancelled")
        if self._task.cancelled():
            return RunCancelled("run cancelled")
        failure = self._task.exception()
        if failure is None:
            return None
        return _as_run_error(failure)

    def _observe(self, hook: str, *args: Any) -> None:
        if self.observer is not None:
            try:
                getattr(self.observer, hook)(*args)
            except Exception:
                logger.exception("instrumentation %s failed for run %s", hook, self.run_id)

    async def _abort_task(self) -> None:
        assert self._task is not None
        self._task.cancel()
        await self._stop_adapter()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _stop_adapter(self) -> None:
        try:
            await self.manager.adapter.cancel(self.run_id)
        except Exception:
            logger.exception(
                "adapter %s failed to cancel run %s", self.manager.adapter.name, self.run_id
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
        if kind in _ADAPTER_LIFECYCLE:
            self._absorb_lifecycle(kind, item.data)
            return
        data = (await self._persist(kind, item.data)).data  # the stored, redacted copy
        if kind in _TRACKED:
            self._track(kind, data)

    def _absorb_lifecycle(self, kind: str, data: Any) -> None:
        """Run lifecycle reported by the adapter: merged into the manager's own events."""
        if kind == EventType.RUN_STARTED:
            if isinstance(data, dict):
                self._started_data.update({k: v for k, v in data.items() if v is not None})
        elif kind == EventType.RUN_COMPLETED:
            self._completion = data if isinstance(data, dict) else {}
        elif kind == EventType.RUN_FAILED:
            raise _error_from_event(data)
        elif kind == EventType.RUN_CANCELLED:
            raise RunCancelled("the provider reported the run cancelled")
        elif kind == EventType.RUN_TIMED_OUT:
            raise RunTimeout("the provider reported a timeout")
        else:
            raise ProviderError(
                f"adapter may not emit {kind} events", code="provider_protocol_error"
            )

    def _track(self, kind: str, data: dict[str, Any]) -> None:
        if kind == EventType.TOKEN_USAGE_UPDATED:
            self._usage = self._usage + TokenUsage.from_dict(data)
        elif kind == EventType.MESSAGE_RECEIVED:
            if data.get("role") == "assistant":
                self._texts.append(data["content"])
        elif kind == EventType.TURN_COMPLETED:
            self._turns += 1
        elif kind == EventType.TOOL_CALL_STARTED:
            self._tool_calls += 1

    async def _persist(self, kind: str, data: Any) -> Event:
        if not self._started_persisted:
            self._started_persisted = True
            await self._emit(EventType.RUN_STARTED, self._started_data)
        return await self._emit(kind, data)

    async def _emit(self, kind: str, data: Any) -> Event:
        try:
            event = self.manager.pipeline.build(self.context, kind, data)
        except ASMError as exc:
            raise ProviderError(
                f"provider emitted a malformed event: {exc.message}",
                code="provider_protocol_error",
                details=exc.details,
            ) from exc
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
        store = self.manager.store
        current = await store.get_run(self.run_id)
        session = await store.get_session(self.session_id)
        if current.status.is_terminal:
            # Cancelled from elsewhere (another process or a direct store write): keep it.
            self._observe("run_finished", current, (), None, None)
            return RunResult(current, session, tuple(self._events))
        provider_session_id = self._started_data.get("provider_session_id")
        model = self._started_data.get("model")
        usage = self._usage
        completion = self._completion or {}
        if isinstance(completion.get("token_usage"), dict):
            usage = TokenUsage.from_dict(completion["token_usage"])
        common: dict[str, Any] = {
            "token_usage": usage,
            "turn_count": self._turns,
            "provider_session_id": provider_session_id,
            "model": model,
        }
        cost = completion.get("cost_usd")
        if isinstance(cost, int | float):
            common["cost_usd"] = float(cost)
        content = completion.get("content")
        if not isinstance(content, str):
            content = "\n\n".join(self._texts)
        pipeline = self.manager.pipeline
        common["output"] = pipeline.redact(
            {"content": content, "stop_reason": completion.get("stop_reason")}
        )

        if error is None and self._cancel_requested:
            error = RunCancelled("run cancelled")
        if error is None:
            status = RunStatus.COMPLETED
            kind = EventType.RUN_COMPLETED
            data: dict[str, Any] = {
                "stop_reason": str(completion.get("stop_reason") or "end_turn"),
                "token_usage": usage.to_dict(),
                "turn_count": self._turns,
            }
            if "cost_usd" in common:
                data["cost_usd"] = common["cost_usd"]
        elif isinstance(error, RunCancelled):
            status, kind = RunStatus.CANCELLED, EventType.RUN_CANCELLED
            reason = self._cancel_reason or error.message
            data = {"reason": reason}
        elif isinstance(error, RunTimeout):
            status, kind = RunStatus.TIMED_OUT, EventType.RUN_TIMED_OUT
            data = {"timeout_s": float(error.details.get("timeout_s") or 0)}
        else:
            status, kind = RunStatus.FAILED, EventType.RUN_FAILED
            data = error_event_data(error)
        if error is not None:
            common["error"] = pipeline.redact(error.to_dict())

        final = current.transition(status, **common)
        events: list[Event] = []
        if not self._started_persisted:
            self._started_persisted = True
            events.append(pipeline.build(self.context, EventType.RUN_STARTED, self._started_data))
        events.append(pipeline.build(self.context, kind, data))
        updated_session = session
        if isinstance(provider_session_id, str) and provider_session_id:
            handle = ProviderHandle(
                provider_session_id=provider_session_id,
                model=model if isinstance(model, str) else None,
                updated_at=utcnow(),
            )
            updated_session = session.with_provider_handle(self.manager.adapter.name, handle)
        self._flush_started = time_ns()
        stored = await store.flush(
            run=final,
            session=updated_session if updated_session is not session else None,
            events=events,
        )
        self._events.extend(stored)
        self._observe("run_finished", final, stored, self._flush_started, None)
        try:
            await invoke_callbacks(self.on_event, stored)
        except ASMError:
            logger.exception("on_event callback failed on the final events of run %s", self.run_id)
        return RunResult(final, updated_session, tuple(self._events))


def normalize_input(value: str | Mapping[str, Any]) -> tuple[Message, ...]:
    """Turn a run input into messages; raise ``ValidationError`` for anything unusable."""
    if isinstance(value, str):
        raw: Any = [{"role": "user", "content": value}]
    elif isinstance(value, Mapping) and isinstance(value.get("messages"), list | tuple):
        raw = value["messages"]
    elif isinstance(value, Mapping) and isinstance(value.get("prompt"), str):
        raw = [{"role": "user", "content": value["prompt"]}]
    else:
        raise ValidationError(
            "run input must be a prompt string, {'prompt': str} or {'messages': [...]}"
        )
    try:
        messages = tuple(Message.model_validate(m) for m in raw)
    except ValueError as exc:
        raise ValidationError(f"invalid run input message: {exc}") from exc
    if not messages or not any(m.content.strip() for m in messages):
        raise ValidationError("run input has no message content")
    return messages


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


def _error_from_event(data: Any) -> ASMError:
    if not isinstance(data, dict):
        return ProviderError("provider reported a failure", code="provider_error")
    code = data.get("error_code")
    message = data.get("error_message") or "provider reported a failure"
    error = ASMError.from_dict(
        {
            "code": code if isinstance(code, str) else "provider_error",
            "message": str(message),
            "details": data.get("details"),
            "provider_error": data.get("provider_error"),
            "retryable": data.get("retryable"),
        }
    )
    return error


def _as_run_error(exc: BaseException) -> ASMError:
    if isinstance(exc, ASMError):
        return exc
    error = ProviderError(
        f"adapter raised {type(exc).__name__}: {exc}",
        details={"exception": type(exc).__name__},
    )
    error.__cause__ = exc
    return error
