"""The ``Instrumentation`` port: what :class:`SessionManager` reports about sessions and runs.

The manager calls a session hook for each lifecycle event and, per run, asks for a
:class:`RunObserver` (the provider call, each stored event, the end). This module holds the port,
the composite that lets several instrumentations listen at once, and
:func:`resolve_instrumentation`, which turns the manager's ``instrumentation=`` argument into one
object. Instrumentation must not raise; the manager logs and ignores it if it does. It knows
events, runs and sessions only: no OpenTelemetry, no logging setup, no store or provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from agent_session_manager.core.events import Event
from agent_session_manager.core.models import Run, Session

__all__ = ["CompositeInstrumentation", "Instrumentation", "RunObserver", "resolve_instrumentation"]


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
    """``True`` → the process-wide default :class:`~.otel.Telemetry` (global providers, created
    on first use); ``None``/``False`` → none; a sequence → combined."""
    if value is True:
        # Imported here: the port does not depend on its OpenTelemetry implementation.
        from agent_session_manager.telemetry.otel import default_telemetry

        return default_telemetry()
    if value is None or value is False:
        return None
    if isinstance(value, Sequence):
        parts = list(value)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else CompositeInstrumentation(parts)
    return value
