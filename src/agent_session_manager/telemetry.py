"""Telemetry and audit: OpenTelemetry spans and metrics for sessions and runs, and an audit log.

:class:`SessionManager` reports what happens through the small :class:`Instrumentation` port
(a session's lifecycle events, and per run: the provider call, each stored event, the end).
Two implementations live here:

* :class:`Telemetry` — spans and metrics following the OpenTelemetry GenAI semantic
  conventions, through ``opentelemetry-api`` only. It is on by default and costs next to
  nothing until the application configures an OpenTelemetry SDK: spans are then non-recording,
  per-event work is skipped entirely, and nothing is exported anywhere.
  Span tree of a run: ``session <agent>`` (from ``session_created`` to the session's end, when
  the session was created through this manager) → ``invoke_agent <agent>`` (the run) →
  ``chat <model>`` (the provider call) → ``execute_tool <tool>`` (each tool call); the run span
  also parents one ``asm.store.append`` span per stored event (streamed deltas only on request)
  and one ``asm.store.flush`` span for the final write. Metrics:
  ``gen_ai.client.token.usage`` (histogram, ``{token}``, by ``gen_ai.token.type``),
  ``gen_ai.client.operation.duration`` (histogram, seconds, per run) and ``asm.runs``
  (counter, by ``asm.run.status``).
* :class:`AuditLog` — one structured record per lifecycle or policy event (session created,
  started, paused, resumed, completed, failed, cancelled; run started and ended; policy
  violations; provider switches; errors), sent to the ``agent_session_manager.audit`` logger
  and/or a callback.

Instrumentation must not raise; the manager logs and ignores it if it does. This module knows
events, runs and sessions; it knows no store backend or provider, and it never configures an
exporter.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from agent_session_manager.core.events import (
    SESSION_LIFECYCLE_EVENTS,
    TERMINAL_RUN_EVENTS,
    Event,
    EventType,
)
from agent_session_manager.core.models import Run, Session

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

logger = logging.getLogger(__name__)
audit_logger = logging.getLogger("agent_session_manager.audit")

INSTRUMENTATION_NAME = "agent_session_manager"
#: Open session spans kept at most; the oldest is ended when more sessions start.
MAX_OPEN_SESSION_SPANS = 10_000

_TOKEN_BUCKETS = [4.0**i for i in range(14)]  # 1 .. 67M, the GenAI semconv advice
_DURATION_BUCKETS = [0.01 * 2**i for i in range(14)]  # 10 ms .. 82 s, the GenAI semconv advice
_SESSION_END = frozenset(
    {EventType.SESSION_COMPLETED, EventType.SESSION_FAILED, EventType.SESSION_CANCELLED}
)


class RunObserver(Protocol):
    """Per-run hooks. ``wants_events`` false means :meth:`event_stored` is never called (the
    per-event path stays free)."""

    wants_events: bool

    def provider_call_started(self) -> None: ...

    def provider_call_finished(self, error: BaseException | None) -> None: ...

    def event_stored(self, event: Event, started_ns: int) -> None:
        """An event of the run was appended; ``started_ns`` is ``time.time_ns()`` before."""

    def run_finished(
        self,
        run: Run | None,
        final_events: Sequence[Event],
        flush_started_ns: int | None,
        error: BaseException | None,
    ) -> None:
        """The run's final state was written (``run``) or finalization failed (``error``)."""


class Instrumentation(Protocol):
    """What :class:`~agent_session_manager.manager.SessionManager` reports to."""

    def session_event(self, session: Session, event: Event) -> None:
        """A session lifecycle event was stored (created, started, paused, …)."""

    def start_run(self, run: Run, session: Session, model: str | None) -> RunObserver | None:
        """A run starts executing; return hooks for it, or ``None`` to hear nothing more."""


# -- combination ------------------------------------------------------------------------------
class _MultiObserver:
    def __init__(self, observers: list[RunObserver]) -> None:
        self._observers = observers
        self._event_observers = [o for o in observers if o.wants_events]
        self.wants_events = bool(self._event_observers)

    def provider_call_started(self) -> None:
        for observer in self._observers:
            observer.provider_call_started()

    def provider_call_finished(self, error: BaseException | None) -> None:
        for observer in self._observers:
            observer.provider_call_finished(error)

    def event_stored(self, event: Event, started_ns: int) -> None:
        for observer in self._event_observers:
            observer.event_stored(event, started_ns)

    def run_finished(
        self,
        run: Run | None,
        final_events: Sequence[Event],
        flush_started_ns: int | None,
        error: BaseException | None,
    ) -> None:
        for observer in self._observers:
            observer.run_finished(run, final_events, flush_started_ns, error)


class CompositeInstrumentation:
    """Several instrumentations as one (each sees everything)."""

    def __init__(self, parts: Iterable[Instrumentation]) -> None:
        self.parts = list(parts)

    def session_event(self, session: Session, event: Event) -> None:
        for part in self.parts:
            part.session_event(session, event)

    def start_run(self, run: Run, session: Session, model: str | None) -> RunObserver | None:
        observers = [o for p in self.parts if (o := p.start_run(run, session, model)) is not None]
        if not observers:
            return None
        return observers[0] if len(observers) == 1 else _MultiObserver(observers)


def resolve_instrumentation(
    value: Instrumentation | Sequence[Instrumentation] | bool | None,
) -> Instrumentation | None:
    """``True`` → the process-wide default :class:`Telemetry` (global providers, created on
    first use); ``None``/``False`` → none; a sequence → combined."""
    if value is True:
        return default_telemetry()
    if value is None or value is False:
        return None
    if isinstance(value, Sequence):
        parts = list(value)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else CompositeInstrumentation(parts)
    return value


# -- OpenTelemetry ----------------------------------------------------------------------------
_default: Telemetry | None = None


def default_telemetry() -> Telemetry:
    """The shared :class:`Telemetry` over the global OpenTelemetry providers (what managers
    use unless told otherwise); instruments are created once per process."""
    global _default
    if _default is None:
        _default = Telemetry()
    return _default


class Telemetry:
    """OpenTelemetry spans and metrics (GenAI semantic conventions) for sessions and runs.

    Uses the global tracer and meter providers unless given others, so it does nothing until
    the application installs an OpenTelemetry SDK. ``trace_store`` adds an ``asm.store.append``
    span per stored event (only when spans are recorded), except ``message_streamed`` deltas
    unless ``trace_streamed`` (they are most of a run's events: measured with the SDK, a span
    for each costs ~8x the pipeline's own per-event work).
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        trace_store: bool = True,
        trace_streamed: bool = False,
    ) -> None:
        from opentelemetry import metrics, trace

        self._trace = trace
        if tracer_provider is None:
            self.tracer = trace.get_tracer(INSTRUMENTATION_NAME)
        else:
            self.tracer = tracer_provider.get_tracer(INSTRUMENTATION_NAME)
        meter = (
            metrics.get_meter(INSTRUMENTATION_NAME)
            if meter_provider is None
            else meter_provider.get_meter(INSTRUMENTATION_NAME)
        )
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Tokens used per run, by gen_ai.token.type",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="Duration of each agent run",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.runs = meter.create_counter(
            "asm.runs", unit="{run}", description="Runs finished, by asm.run.status"
        )
        self.trace_store = trace_store
        self.trace_streamed = trace_streamed
        self._sessions: OrderedDict[str, Span] = OrderedDict()

    # -- sessions ---------------------------------------------------------------------------
    def session_event(self, session: Session, event: Event) -> None:
        kind = event.type
        if kind == EventType.SESSION_CREATED:
            span = self.tracer.start_span(
                f"session {session.agent_id}",
                attributes={
                    "gen_ai.operation.name": "asm.session",
                    "gen_ai.conversation.id": session.id,
                    "gen_ai.agent.name": session.agent_id,
                    "gen_ai.provider.name": session.provider or "",
                    "asm.session.id": session.id,
                },
                start_time=_ns(event),
            )
            if span.is_recording():
                self._sessions[session.id] = span
                while len(self._sessions) > MAX_OPEN_SESSION_SPANS:
                    _, oldest = self._sessions.popitem(last=False)
                    oldest.set_attribute("asm.session.span_evicted", True)
                    oldest.end()
            return
        open_span = self._sessions.get(session.id)
        if open_span is None:
            return
        open_span.add_event(kind, timestamp=_ns(event))
        if kind in _SESSION_END:
            del self._sessions[session.id]
            open_span.set_attribute("asm.session.status", str(session.status))
            if kind == EventType.SESSION_FAILED:
                error_code = str(event.data.get("error_code") or "session_failed")
                self._set_error(open_span, error_code)
            open_span.end(end_time=_ns(event))

    # -- runs -------------------------------------------------------------------------------
    def start_run(self, run: Run, session: Session, model: str | None) -> RunObserver | None:
        parent = self._sessions.get(session.id)
        context = self._trace.set_span_in_context(parent) if parent is not None else None
        provider = run.provider or session.provider or ""
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.system": provider,
            "gen_ai.provider.name": provider,
            "gen_ai.agent.name": session.agent_id,
            "gen_ai.conversation.id": session.id,
            "asm.session.id": session.id,
            "asm.run.id": run.id,
        }
        if model:
            attributes["gen_ai.request.model"] = model
        span = self.tracer.start_span(
            f"invoke_agent {session.agent_id}", context=context, attributes=attributes
        )
        return _OtelRun(self, span, provider, model)

    def _set_error(self, span: Span, error_type: str, message: str | None = None) -> None:
        from opentelemetry.trace import Status, StatusCode

        span.set_attribute("error.type", error_type)
        span.set_status(Status(StatusCode.ERROR, message))


class _OtelRun:
    """One run's spans and metrics."""

    def __init__(self, owner: Telemetry, span: Span, provider: str, model: str | None) -> None:
        self.owner = owner
        self.span = span
        self.provider = provider
        self.model = model
        self.recording = span.is_recording()
        self.wants_events = self.recording
        self.started = time.monotonic()
        self.provider_span: Span | None = None
        self.tools: dict[str, Span] = {}
        self.input_tokens = 0
        self.output_tokens = 0

    def _child(self, name: str, parent: Span, **kwargs: Any) -> Span:
        context = self.owner._trace.set_span_in_context(parent)
        return self.owner.tracer.start_span(name, context=context, **kwargs)

    def provider_call_started(self) -> None:
        if not self.recording:
            return
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": self.provider,
            "gen_ai.provider.name": self.provider,
        }
        if self.model:
            attributes["gen_ai.request.model"] = self.model
        self.provider_span = self._child(
            f"chat {self.model or self.provider}", self.span, attributes=attributes
        )

    def provider_call_finished(self, error: BaseException | None) -> None:
        span = self.provider_span
        if span is None:
            return
        self.provider_span = None
        for tool_span in self.tools.values():
            self.owner._set_error(tool_span, "tool_call_unfinished")
            tool_span.end()
        self.tools.clear()
        span.set_attribute("gen_ai.usage.input_tokens", self.input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", self.output_tokens)
        if error is not None:
            self.owner._set_error(span, _error_type(error), str(error))
        span.end()

    def event_stored(self, event: Event, started_ns: int) -> None:
        kind = event.type
        owner = self.owner
        if owner.trace_store and (owner.trace_streamed or kind != EventType.MESSAGE_STREAMED):
            self._child(
                "asm.store.append",
                self.span,
                start_time=started_ns,
                attributes={
                    "db.operation.name": "append_event",
                    "asm.event.type": kind,
                    "asm.event.sequence_number": event.sequence_number or 0,
                },
            ).end()
        data = event.data
        if kind == EventType.TOOL_CALL_STARTED:
            parent = self.provider_span or self.span
            call_id = str(data.get("tool_call_id") or f"#{len(self.tools)}")
            self.tools[call_id] = self._child(
                f"execute_tool {data.get('tool_name') or 'unknown'}",
                parent,
                start_time=_ns(event),
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": str(data.get("tool_name") or "unknown"),
                    "gen_ai.tool.call.id": call_id,
                },
            )
        elif kind in (EventType.TOOL_CALL_COMPLETED, EventType.TOOL_CALL_FAILED):
            tool = self.tools.pop(str(data.get("tool_call_id")), None)
            if tool is not None:
                if kind == EventType.TOOL_CALL_FAILED:
                    self.owner._set_error(tool, "tool_error", str(data.get("error_message")))
                tool.end(end_time=_ns(event))
        elif kind == EventType.TOKEN_USAGE_UPDATED:
            self.input_tokens += _int(data.get("input_tokens"))
            self.output_tokens += _int(data.get("output_tokens"))

    def run_finished(
        self,
        run: Run | None,
        final_events: Sequence[Event],
        flush_started_ns: int | None,
        error: BaseException | None,
    ) -> None:
        owner = self.owner
        span = self.span
        self.provider_call_finished(None)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": self.provider,
        }
        if self.model:
            attributes["gen_ai.request.model"] = self.model
        if self.recording and flush_started_ns is not None and owner.trace_store:
            self._child(
                "asm.store.flush",
                span,
                start_time=flush_started_ns,
                attributes={"db.operation.name": "flush", "asm.events": len(final_events)},
            ).end()
        if run is None:
            error_type = _error_type(error) if error is not None else "internal_error"
            attributes["error.type"] = error_type
            owner._set_error(span, error_type, str(error))
            status = "unknown"
        else:
            status = str(run.status)
            usage = run.token_usage
            if run.model:
                span.set_attribute("gen_ai.response.model", run.model)
                attributes["gen_ai.response.model"] = run.model
            span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
            span.set_attribute("asm.run.status", status)
            span.set_attribute("asm.run.turn_count", run.turn_count)
            if run.cost_usd is not None:
                span.set_attribute("asm.run.cost_usd", run.cost_usd)
            stop = (run.output or {}).get("stop_reason")
            if isinstance(stop, str):
                span.set_attribute("gen_ai.response.finish_reasons", [stop])
            if status != "completed":
                code = (run.error or {}).get("code") if isinstance(run.error, dict) else None
                error_type = str(code or status)
                attributes["error.type"] = error_type
                owner._set_error(span, error_type, (run.error or {}).get("message"))
            owner.token_usage.record(
                usage.input_tokens, {**attributes, "gen_ai.token.type": "input"}
            )
            owner.token_usage.record(
                usage.output_tokens, {**attributes, "gen_ai.token.type": "output"}
            )
        owner.duration.record(time.monotonic() - self.started, attributes)
        owner.runs.add(1, {**attributes, "asm.run.status": status})
        span.end()


# -- audit ------------------------------------------------------------------------------------
#: Event types the audit log records.
AUDIT_EVENT_TYPES = frozenset(
    {
        *SESSION_LIFECYCLE_EVENTS,
        EventType.RUN_STARTED,
        *TERMINAL_RUN_EVENTS,
        EventType.POLICY_VIOLATION,
        EventType.PROVIDER_SWITCHED,
        EventType.ERROR_OCCURRED,
    }
)

AuditCallback = Callable[[dict[str, Any]], None]


class AuditLog:
    """Records lifecycle and policy events as flat dicts.

    Each record: ``action`` (the event type), ``at`` (RFC 3339), ``session_id``, ``run_id``,
    ``agent_id``, ``provider``, ``sequence_number``, ``event_id`` and ``details`` (the event's
    data: error codes, reasons, usage — already redacted). Records go to ``callback`` if given,
    and to the ``agent_session_manager.audit`` logger at INFO (message ``"audit <action>"``,
    the record in ``extra={"audit": record}``) unless ``use_logger=False``.
    """

    def __init__(self, callback: AuditCallback | None = None, *, use_logger: bool = True) -> None:
        self.callback = callback
        self.use_logger = use_logger

    def record(self, event: Event, agent_id: str | None) -> None:
        record = {
            "action": event.type,
            "at": event.to_dict()["timestamp"],
            "session_id": event.session_id,
            "run_id": event.run_id,
            "agent_id": agent_id,
            "provider": event.provider,
            "sequence_number": event.sequence_number,
            "event_id": event.id,
            "details": event.data,
        }
        if self.use_logger:
            audit_logger.info("audit %s", event.type, extra={"audit": record})
        if self.callback is not None:
            try:
                self.callback(record)
            except Exception:
                logger.exception("audit callback failed on %s", event.type)

    def session_event(self, session: Session, event: Event) -> None:
        self.record(event, session.agent_id)

    def start_run(self, run: Run, session: Session, model: str | None) -> RunObserver | None:
        return _AuditRun(self, session.agent_id)


class _AuditRun:
    wants_events = True

    def __init__(self, owner: AuditLog, agent_id: str) -> None:
        self.owner = owner
        self.agent_id = agent_id

    def provider_call_started(self) -> None:
        return None

    def provider_call_finished(self, error: BaseException | None) -> None:
        return None

    def event_stored(self, event: Event, started_ns: int) -> None:
        if event.type in AUDIT_EVENT_TYPES:
            self.owner.record(event, self.agent_id)

    def run_finished(
        self,
        run: Run | None,
        final_events: Sequence[Event],
        flush_started_ns: int | None,
        error: BaseException | None,
    ) -> None:
        for event in final_events:
            if event.type in AUDIT_EVENT_TYPES:
                self.owner.record(event, self.agent_id)


def _ns(event: Event) -> int:
    return int(event.timestamp.timestamp() * 1_000_000) * 1000


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _error_type(error: BaseException) -> str:
    code = getattr(error, "code", None)
    return code if isinstance(code, str) else type(error).__name__
