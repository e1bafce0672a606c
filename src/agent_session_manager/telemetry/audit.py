"""The audit log: one structured record per lifecycle or policy event.

:class:`AuditLog` implements the :class:`~.protocol.Instrumentation` port and records session
created, started, paused, resumed, completed, failed and cancelled; run started and ended; policy
violations; provider switches; errors. Records go to the ``agent_session_manager.audit`` logger
and/or a callback. It knows events, runs and sessions; it knows no OpenTelemetry, store backend or
provider, and it never configures a logging handler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from agent_session_manager.core.events import (
    SESSION_LIFECYCLE_EVENTS,
    TERMINAL_RUN_EVENTS,
    Event,
    EventType,
)
from agent_session_manager.core.models import Run, Session
from agent_session_manager.telemetry.protocol import RunObserver

__all__ = ["AUDIT_EVENT_TYPES", "AuditCallback", "AuditLog", "audit_logger"]

logger = logging.getLogger(__name__)
audit_logger = logging.getLogger("agent_session_manager.audit")

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
