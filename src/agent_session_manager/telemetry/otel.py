"""OpenTelemetry spans and metrics for sessions and runs (GenAI semantic conventions).

:class:`Telemetry` implements the :class:`~.protocol.Instrumentation` port through
``opentelemetry-api`` only. It is on by default and costs next to nothing until the application
configures an OpenTelemetry SDK: spans are then non-recording, per-event work is skipped entirely,
and nothing is exported anywhere. ``opentelemetry`` is imported when a :class:`Telemetry` is
created, never when this module is, so ``import agent_session_manager`` stays light.

Span tree of a run: ``session <agent>`` (from ``session_created`` to the session's end, when the
session was created through this manager) → ``invoke_agent <agent>`` (the run) → ``chat <model>``
(the provider call) → ``execute_tool <tool>`` (each tool call); the run span also parents one
``asm.store.append`` span per stored event (streamed deltas only on request) and one
``asm.store.flush`` span for the final write. Metrics: ``gen_ai.client.token.usage`` (histogram,
``{token}``, by ``gen_ai.token.type``), ``gen_ai.client.operation.duration`` (histogram, seconds,
per run) and ``asm.runs`` (counter, by ``asm.run.status``).

It knows events, runs and sessions; it knows no store backend or provider, and it never
configures an exporter.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agent_session_manager.core.events import Event, EventType
from agent_session_manager.core.models import Run, Session
from agent_session_manager.telemetry.protocol import RunObserver

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

__all__ = ["INSTRUMENTATION_NAME", "MAX_OPEN_SESSION_SPANS", "Telemetry", "default_telemetry"]

INSTRUMENTATION_NAME = "agent_session_manager"
#: Open session spans kept at most; the oldest is ended when more sessions start.
MAX_OPEN_SESSION_SPANS = 10_000

_TOKEN_BUCKETS = [4.0**i for i in range(14)]  # 1 .. 67M, the GenAI semconv advice
_DURATION_BUCKETS = [0.01 * 2**i for i in range(14)]  # 10 ms .. 82 s, the GenAI semconv advice
_SESSION_END = frozenset(
    {EventType.SESSION_COMPLETED, EventType.SESSION_FAILED, EventType.SESSION_CANCELLED}
)

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


def _ns(event: Event) -> int:
    return int(event.timestamp.timestamp() * 1_000_000) * 1000


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _error_type(error: BaseException) -> str:
    code = getattr(error, "code", None)
    return code if isinstance(code, str) else type(error).__name__
