"""Telemetry: the GenAI span tree of a scripted run with a tool call (SDK in-memory exporter),
metrics (in-memory reader), the audit log, and nothing recorded without a configured SDK."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agent_session_manager import (
    AuditLog,
    Event,
    InMemorySessionStore,
    Run,
    Scenario,
    ScriptedAdapter,
    Session,
    SessionManager,
    Telemetry,
)

_SCENARIO = (
    Scenario()
    .text("Looking.")
    .tool_call("bash", {"command": "ls"}, output="a.txt")
    .usage(120, 45)
    .text("Done.")
    .with_model("claude-sonnet-4-5")
)


def _otel() -> tuple[Telemetry, InMemorySpanExporter, InMemoryMetricReader]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry = Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    return telemetry, exporter, reader


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


async def test_span_tree_of_a_scripted_run_with_a_tool_call() -> None:
    telemetry, exporter, _ = _otel()
    manager = SessionManager(
        InMemorySessionStore(), ScriptedAdapter(_SCENARIO), instrumentation=telemetry
    )
    result = await manager.run_once("list the files", agent_id="coder")
    assert result.ok
    spans = list(exporter.get_finished_spans())
    roots = [s for s in spans if s.parent is None]
    assert [s.name for s in roots] == ["session coder"]
    session = roots[0]
    assert session.attributes is not None
    assert session.attributes["gen_ai.conversation.id"] == result.session_id
    assert [e.name for e in session.events] == ["session_started", "session_completed"]

    (run,) = _children(spans, session)
    assert run.name == "invoke_agent coder"
    attrs = dict(run.attributes or {})
    assert attrs["gen_ai.operation.name"] == "invoke_agent"
    assert attrs["gen_ai.system"] == "scripted"
    assert attrs["gen_ai.provider.name"] == "scripted"
    assert attrs["gen_ai.response.model"] == "claude-sonnet-4-5"
    assert attrs["gen_ai.usage.input_tokens"] == 120
    assert attrs["gen_ai.usage.output_tokens"] == 45
    assert attrs["asm.run.id"] == result.run_id
    assert attrs["asm.run.status"] == "completed"
    assert attrs["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert run.status.status_code is StatusCode.UNSET

    under_run = _children(spans, run)
    names = [s.name for s in under_run]
    chat = next(s for s in under_run if s.name.startswith("chat"))
    assert dict(chat.attributes or {})["gen_ai.operation.name"] == "chat"
    assert dict(chat.attributes or {})["gen_ai.usage.output_tokens"] == 45
    appends = [s for s in under_run if s.name == "asm.store.append"]
    stored = await manager.store.get_events(result.session_id, run_id=result.run_id)
    # Every event but the streamed deltas and the final flush (run_completed) is one append.
    not_streamed = [e for e in stored if e.type != "message_streamed"]
    assert len(appends) == len(not_streamed) - 1
    assert {dict(s.attributes or {})["asm.event.type"] for s in appends} >= {"tool_call_started"}
    assert names.count("asm.store.flush") == 1

    (tool,) = _children(spans, chat)
    assert tool.name == "execute_tool bash"
    tool_attrs = dict(tool.attributes or {})
    assert tool_attrs["gen_ai.operation.name"] == "execute_tool"
    assert tool_attrs["gen_ai.tool.name"] == "bash"
    assert tool_attrs["gen_ai.tool.call.id"] == "call_1"
    assert tool.start_time is not None
    assert tool.end_time is not None
    assert chat.start_time is not None
    assert chat.end_time is not None
    assert chat.start_time <= tool.start_time <= tool.end_time <= chat.end_time


async def test_failed_run_and_failed_tool_are_errors() -> None:
    telemetry, exporter, _ = _otel()
    scenario = (
        Scenario().tool_call("bash", error="denied").fail("overloaded", code="provider_overloaded")
    )
    manager = SessionManager(
        InMemorySessionStore(), ScriptedAdapter(scenario), instrumentation=telemetry
    )
    result = await manager.run_once("go")
    assert not result.ok
    spans = {s.name: s for s in exporter.get_finished_spans()}
    run = spans["invoke_agent scripted"]
    assert run.status.status_code is StatusCode.ERROR
    assert dict(run.attributes or {})["error.type"] == "provider_overloaded"
    assert spans["execute_tool bash"].status.status_code is StatusCode.ERROR
    assert spans["chat scripted"].status.status_code is StatusCode.ERROR


async def test_metrics_token_usage_and_run_duration() -> None:
    telemetry, _, reader = _otel()
    manager = SessionManager(
        InMemorySessionStore(), ScriptedAdapter(_SCENARIO), instrumentation=telemetry
    )
    await manager.run_once("one")
    await manager.run_once("two")
    data = reader.get_metrics_data()
    assert data is not None
    metrics: dict[str, Any] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                metrics[metric.name] = metric
    tokens = metrics["gen_ai.client.token.usage"]
    assert tokens.unit == "{token}"
    by_type = {p.attributes["gen_ai.token.type"]: p for p in tokens.data.data_points}
    assert (by_type["input"].sum, by_type["input"].count) == (240, 2)
    assert (by_type["output"].sum, by_type["output"].count) == (90, 2)
    assert by_type["input"].attributes["gen_ai.response.model"] == "claude-sonnet-4-5"
    duration = metrics["gen_ai.client.operation.duration"]
    assert duration.unit == "s"
    (point,) = duration.data.data_points
    assert point.count == 2
    assert point.attributes["gen_ai.operation.name"] == "invoke_agent"
    (runs,) = metrics["asm.runs"].data.data_points
    assert runs.value == 2
    assert runs.attributes["asm.run.status"] == "completed"


async def test_nothing_is_recorded_without_an_sdk() -> None:
    # The default instrumentation uses the global (no-op until configured) providers.
    manager = SessionManager(InMemorySessionStore(), ScriptedAdapter(_SCENARIO))
    assert isinstance(manager.instrumentation, Telemetry)
    other = SessionManager(InMemorySessionStore(), ScriptedAdapter(_SCENARIO))
    assert other.instrumentation is manager.instrumentation  # one default per process
    session = await manager.start_session()
    run = Run(session_id=session.id)
    observer = manager.instrumentation.start_run(run, session, None)
    assert observer is not None
    assert observer.wants_events is False  # the per-event path stays free
    assert (await manager.run_once("go")).ok
    assert (
        SessionManager(
            InMemorySessionStore(), ScriptedAdapter(_SCENARIO), instrumentation=None
        ).instrumentation
        is None
    )


async def test_audit_log_records_lifecycle_events_to_logger_and_callback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records: list[dict[str, Any]] = []
    manager = SessionManager(
        InMemorySessionStore(),
        ScriptedAdapter(
            Scenario()
            .text("hi")
            .event("policy_violation", {"policy": "p", "kind": "max_tokens", "action": "warn"})
        ),
        instrumentation=[AuditLog(records.append)],
    )
    with caplog.at_level(logging.INFO, logger="agent_session_manager.audit"):
        result = await manager.run_once("go", agent_id="auditor")
    actions = [r["action"] for r in records]
    assert actions == [
        "session_created",
        "session_started",
        "run_started",
        "policy_violation",
        "run_completed",
        "session_completed",
    ]
    assert all(r["session_id"] == result.session_id for r in records)
    assert records[2]["run_id"] == result.run_id
    assert records[0]["agent_id"] == "auditor"
    logged = [r for r in caplog.records if r.name == "agent_session_manager.audit"]
    assert [r.getMessage() for r in logged] == [f"audit {a}" for a in actions]
    assert logged[0].audit["action"] == "session_created"  # type: ignore[attr-defined]


async def test_failing_instrumentation_never_breaks_a_run(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        wants_events = True

        def session_event(self, session: Session, event: Event) -> None:
            raise RuntimeError("session hook bug")

        def start_run(self, run: Run, session: Session, model: str | None) -> Any:
            return self

        def provider_call_started(self) -> None:
            raise RuntimeError("hook bug")

        def provider_call_finished(self, error: BaseException | None) -> None:
            raise RuntimeError("hook bug")

        def event_stored(self, event: Event, started_ns: int) -> None:
            raise RuntimeError("hook bug")

        def run_finished(self, *args: Any) -> None:
            raise RuntimeError("hook bug")

    manager = SessionManager(
        InMemorySessionStore(), ScriptedAdapter(_SCENARIO), instrumentation=Broken()
    )
    assert (await manager.run_once("go")).ok
    assert any("instrumentation" in r.getMessage() for r in caplog.records)
