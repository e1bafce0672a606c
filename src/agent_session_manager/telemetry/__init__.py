"""Telemetry and audit: what :class:`SessionManager` reports about sessions and runs, and two
implementations of it.

``protocol`` holds the :class:`Instrumentation` port (with :class:`RunObserver`, the composite and
:func:`resolve_instrumentation`); ``otel`` the OpenTelemetry spans and metrics
(:class:`Telemetry`); ``audit`` the :class:`AuditLog`. Importing this package imports no
``opentelemetry``: :class:`Telemetry` loads it when created. Nothing here knows a store backend or
a provider, or configures an exporter or a logging handler.
"""

from __future__ import annotations

from agent_session_manager.telemetry.audit import (
    AUDIT_EVENT_TYPES,
    AuditCallback,
    AuditLog,
    audit_logger,
)
from agent_session_manager.telemetry.otel import (
    INSTRUMENTATION_NAME,
    MAX_OPEN_SESSION_SPANS,
    Telemetry,
    default_telemetry,
)
from agent_session_manager.telemetry.protocol import (
    CompositeInstrumentation,
    Instrumentation,
    RunObserver,
    resolve_instrumentation,
)

__all__ = [
    "AUDIT_EVENT_TYPES",
    "INSTRUMENTATION_NAME",
    "MAX_OPEN_SESSION_SPANS",
    "AuditCallback",
    "AuditLog",
    "CompositeInstrumentation",
    "Instrumentation",
    "RunObserver",
    "Telemetry",
    "audit_logger",
    "default_telemetry",
    "resolve_instrumentation",
]
