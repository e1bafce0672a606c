"""The event pipeline: every event on its way into the log goes validate → redact → enrich
(:meth:`EventPipeline.build`) → persist (the store) → callback, in that order.

Lifecycle events from the manager and content events from adapters take the same path, so a
secret in a tool's output, a prompt or an error message never reaches the store, and a malformed
provider event is rejected before anything is written. The pipeline builds events; the manager
persists them, so this module knows only the domain (core): no store, no provider.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agent_session_manager.core.clock import utcnow
from agent_session_manager.core.errors import ASMError
from agent_session_manager.core.events import (
    Event,
    assemble_event,
    validate_event_data,
    validate_event_type,
)
from agent_session_manager.core.ids import new_event_id
from agent_session_manager.core.redaction import Redactor

__all__ = [
    "CallbackError",
    "EmitContext",
    "EventCallback",
    "EventPipeline",
    "invoke_callback",
    "invoke_callbacks",
]

#: A user callback: receives each event after it is persisted (so it has its sequence number).
EventCallback = Callable[[Event], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class EmitContext:
    """Who an event belongs to; the pipeline stamps it on every event it builds."""

    session_id: str
    run_id: str | None = None
    provider: str | None = None


class CallbackError(ASMError):
    """A user ``on_event`` callback raised; the original exception is the ``__cause__``."""

    default_code = "callback_failed"


class EventPipeline:
    """Validates, redacts and stamps events on their way to the store (which it never sees)."""

    def __init__(self, *, redactor: Redactor | None) -> None:
        self.redactor = redactor

    def redact(self, value: Any) -> Any:
        """``value`` with secrets replaced (unchanged when redaction is off)."""
        return value if self.redactor is None else self.redactor.redact(value)[0]

    def build(
        self,
        context: EmitContext,
        event_type: str,
        data: Any,
        metadata: dict[str, Any] | None = None,
    ) -> Event:
        """Validate, redact and enrich; raises ``ValidationError`` (``malformed_event``)."""
        validate_event_type(event_type)
        validate_event_data(event_type, data)
        meta = metadata or {}
        if self.redactor is not None:
            data, count = self.redactor.redact(data)
            if meta:
                meta, meta_count = self.redactor.redact(meta)
                count += meta_count
            if count:
                meta = {**meta, "redactions": count}
        return assemble_event(
            event_type,
            context.session_id,
            data,
            context.run_id,
            meta,
            context.provider,
            new_event_id(),
            utcnow(),
            None,
        )


async def invoke_callback(callback: EventCallback, event: Event) -> None:
    """Call a sync or async callback; wrap what it raises in :class:`CallbackError`."""
    try:
        result = callback(event)
        if inspect.isawaitable(result):
            await result
    except Exception as exc:
        raise CallbackError(
            f"on_event callback raised {type(exc).__name__}: {exc}",
            details={"event_type": event.type, "sequence_number": event.sequence_number},
        ) from exc


async def invoke_callbacks(callback: EventCallback | None, events: Sequence[Event]) -> None:
    if callback is not None:
        for event in events:
            await invoke_callback(callback, event)
