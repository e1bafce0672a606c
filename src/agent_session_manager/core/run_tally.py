"""The rules of one run, as a value: what the adapter reported, and how the run ends.

The run driver (orchestration) feeds every adapter event to a :class:`RunTally` and, when the
run's stream is over, asks it for the :class:`Conclusion`: the terminal status, the events to
write with it (exactly one terminal event, preceded by ``run_started`` when the log has none yet),
the run's final fields and the provider handle the session keeps for the next run. Nothing here
awaits, stores or knows an adapter: the driver keeps the awaits, and the rule "every outcome gives
exactly one terminal event and status" is tested as a table, without asyncio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent_session_manager.core.clock import utcnow
from agent_session_manager.core.errors import (
    ASMError,
    ProviderError,
    RunCancelled,
    RunTimeout,
    error_event_data,
)
from agent_session_manager.core.events import (
    SESSION_LIFECYCLE_EVENTS,
    TERMINAL_EVENT_OF,
    TERMINAL_RUN_EVENTS,
    EventType,
)
from agent_session_manager.core.lifecycle import RunStatus
from agent_session_manager.core.models import ProviderHandle
from agent_session_manager.core.usage import TokenUsage

__all__ = [
    "ADAPTER_LIFECYCLE",
    "TRACKED",
    "Conclusion",
    "RunTally",
    "as_run_error",
    "error_from_event",
]

#: Event types an adapter reports that are not persisted as they come (see the provider port):
#: run lifecycle is merged into the manager's own events; session lifecycle and run input are the
#: manager's alone.
ADAPTER_LIFECYCLE = frozenset(
    {
        EventType.RUN_STARTED,
        *TERMINAL_RUN_EVENTS,
        *SESSION_LIFECYCLE_EVENTS,
        EventType.MESSAGE_SENT,
    }
)
#: Content events whose data feeds the run's result (usage, output text, counters).
TRACKED = frozenset(
    {
        EventType.TOKEN_USAGE_UPDATED,
        EventType.MESSAGE_RECEIVED,
        EventType.TURN_COMPLETED,
    }
)


def _unchanged(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Conclusion:
    """How a run ends: everything the driver writes in its one guarded ``flush``.

    ``events`` are ``(type, data)`` pairs in log order; the last is the terminal event.
    ``run_changes`` are the fields passed to ``Run.transition(status, **run_changes)``.
    ``handle`` is the provider handle to keep on the session (``None``: leave it as it is).
    """

    status: RunStatus
    events: tuple[tuple[str, dict[str, Any]], ...]
    run_changes: dict[str, Any]
    handle: ProviderHandle | None = None

    @property
    def terminal_event(self) -> tuple[str, dict[str, Any]]:
        return self.events[-1]


@dataclass(slots=True)
class RunTally:
    """What a run has produced so far; :meth:`conclude` turns it into one terminal outcome.

    ``started`` is false for a run that never began executing (a pending run cancelled or failed
    before any adapter saw it): its conclusion has no ``run_started`` event and no result fields.
    """

    provider: str
    model: str | None = None
    started: bool = True
    started_data: dict[str, Any] = field(init=False)
    #: Whether ``run_started`` is in the log (the driver writes it before the first content).
    announced: bool = field(default=False, init=False)
    usage: TokenUsage = field(default_factory=TokenUsage, init=False)
    texts: list[str] = field(default_factory=list, init=False)
    turns: int = field(default=0, init=False)
    completion: dict[str, Any] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.started_data = {"provider": self.provider}
        if self.model:
            self.started_data["model"] = self.model

    # -- while the run streams --------------------------------------------------------------
    def announce(self) -> dict[str, Any] | None:
        """The data of the ``run_started`` event to write now, once, before the first content
        event; ``None`` once it was announced."""
        if self.announced:
            return None
        self.announced = True
        return self.started_data

    def absorb(self, kind: str, data: Any) -> None:
        """Take in run lifecycle reported by the adapter (a kind in :data:`ADAPTER_LIFECYCLE`).

        Raises the error a reported failure, cancel or timeout means, and ``ProviderError``
        (``provider_protocol_error``) for lifecycle an adapter may not report.
        """
        if kind == EventType.RUN_STARTED:
            if isinstance(data, dict):
                self.started_data.update({k: v for k, v in data.items() if v is not None})
        elif kind == EventType.RUN_COMPLETED:
            self.completion = data if isinstance(data, dict) else {}
        elif kind == EventType.RUN_FAILED:
            raise error_from_event(data)
        elif kind == EventType.RUN_CANCELLED:
            raise RunCancelled("the provider reported the run cancelled")
        elif kind == EventType.RUN_TIMED_OUT:
            raise RunTimeout("the provider reported a timeout")
        else:
            raise ProviderError(
                f"adapter may not emit {kind} events", code="provider_protocol_error"
            )

    def track(self, kind: str, data: dict[str, Any]) -> None:
        """Count a stored content event (a kind in :data:`TRACKED`) into the run's result."""
        if kind == EventType.TOKEN_USAGE_UPDATED:
            self.usage = self.usage + TokenUsage.from_dict(data)
        elif kind == EventType.MESSAGE_RECEIVED:
            if data.get("role") == "assistant":
                self.texts.append(data["content"])
        elif kind == EventType.TURN_COMPLETED:
            self.turns += 1

    # -- the end ----------------------------------------------------------------------------
    def conclude(
        self,
        error: ASMError | None,
        *,
        cancel_reason: str | None = None,
        redact: Callable[[Any], Any] = _unchanged,
    ) -> Conclusion:
        """The run's one terminal outcome: ``completed`` when ``error`` is ``None``, else
        ``cancelled`` (:class:`RunCancelled`), ``timed_out`` (:class:`RunTimeout`) or
        ``failed`` (anything else). ``cancel_reason`` is the reason a canceller gave;
        ``redact`` cleans what goes into the run record (events are redacted when built)."""
        status, data = _terminal(error, cancel_reason)
        if status is RunStatus.COMPLETED:
            data = self._completed_data()
        events: list[tuple[str, dict[str, Any]]] = []
        if self.started and not self.announced:
            events.append((EventType.RUN_STARTED, self.started_data))
        events.append((TERMINAL_EVENT_OF[status], data))
        changes: dict[str, Any] = self._result_fields(redact) if self.started else {}
        if error is not None:
            changes["error"] = redact(error.to_dict())
        return Conclusion(status, tuple(events), changes, self._handle())

    def _completion_usage(self) -> TokenUsage:
        completion = self.completion or {}
        reported = completion.get("token_usage")
        return TokenUsage.from_dict(reported) if isinstance(reported, dict) else self.usage

    def _cost(self) -> float | None:
        cost = (self.completion or {}).get("cost_usd")
        return float(cost) if isinstance(cost, int | float) else None

    def _completed_data(self) -> dict[str, Any]:
        completion = self.completion or {}
        data: dict[str, Any] = {
            "stop_reason": str(completion.get("stop_reason") or "end_turn"),
            "token_usage": self._completion_usage().to_dict(),
            "turn_count": self.turns,
        }
        cost = self._cost()
        if cost is not None:
            data["cost_usd"] = cost
        return data

    def _result_fields(self, redact: Callable[[Any], Any]) -> dict[str, Any]:
        completion = self.completion or {}
        content = completion.get("content")
        if not isinstance(content, str):
            content = "\n\n".join(self.texts)
        fields: dict[str, Any] = {
            "token_usage": self._completion_usage(),
            "turn_count": self.turns,
            "provider_session_id": self.started_data.get("provider_session_id"),
            "model": self.started_data.get("model"),
            "output": redact({"content": content, "stop_reason": completion.get("stop_reason")}),
        }
        cost = self._cost()
        if cost is not None:
            fields["cost_usd"] = cost
        return fields

    def _handle(self) -> ProviderHandle | None:
        provider_session_id = self.started_data.get("provider_session_id")
        if not (self.started and isinstance(provider_session_id, str) and provider_session_id):
            return None
        model = self.started_data.get("model")
        return ProviderHandle(
            provider_session_id=provider_session_id,
            model=model if isinstance(model, str) else None,
            updated_at=utcnow(),
        )


def _terminal(
    error: ASMError | None, cancel_reason: str | None
) -> tuple[RunStatus, dict[str, Any]]:
    if error is None:
        return RunStatus.COMPLETED, {}
    if isinstance(error, RunCancelled):
        return RunStatus.CANCELLED, {"reason": cancel_reason or error.message}
    if isinstance(error, RunTimeout):
        return RunStatus.TIMED_OUT, {"timeout_s": float(error.details.get("timeout_s") or 0)}
    return RunStatus.FAILED, error_event_data(error)


def error_from_event(data: Any) -> ASMError:
    """The error a ``run_failed`` event reported by an adapter stands for."""
    if not isinstance(data, dict):
        return ProviderError("provider reported a failure", code="provider_error")
    code = data.get("error_code")
    message = data.get("error_message") or "provider reported a failure"
    return ASMError.from_dict(
        {
            "code": code if isinstance(code, str) else "provider_error",
            "message": str(message),
            "details": data.get("details"),
            "provider_error": data.get("provider_error"),
            "retryable": data.get("retryable"),
        }
    )


def as_run_error(exc: BaseException) -> ASMError:
    """A library error for whatever an adapter raised (``ProviderError`` for a foreign one)."""
    if isinstance(exc, ASMError):
        return exc
    error = ProviderError(
        f"adapter raised {type(exc).__name__}: {exc}",
        details={"exception": type(exc).__name__},
    )
    error.__cause__ = exc
    return error
