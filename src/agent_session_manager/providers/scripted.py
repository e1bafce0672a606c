"""The scripted provider: deterministic, offline runs described as a :class:`Scenario`.

It drives ``asm demo`` and lets users test their own applications (and we ours) without an agent,
a network or a model. Scenarios are immutable lists of steps; the same scenario always yields the
same events, so they can be shared between runs and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent_session_manager.core.capabilities import Capability, CapabilityType
from agent_session_manager.core.errors import ASMError, ProviderError, ValidationError
from agent_session_manager.core.events import EventType
from agent_session_manager.core.ids import new_id
from agent_session_manager.providers.protocol import ProviderEvent, RunRequest

__all__ = ["Scenario", "ScenarioSource", "ScriptedAdapter"]


@dataclass(frozen=True, slots=True)
class _Delay:
    seconds: float


@dataclass(frozen=True, slots=True)
class _Fail:
    message: str
    code: str
    retryable: bool | None

    def error(self) -> ASMError:
        return ProviderError(self.message, code=self.code, retryable=self.retryable)


_Step = ProviderEvent | _Delay | _Fail


@dataclass(frozen=True)
class Scenario:
    """A script for one run, built step by step; every builder method returns a new scenario.

    >>> Scenario().text("Listing files.").tool_call("bash", {"command": "ls"}, output="a.txt")
    ... # doctest: +ELLIPSIS
    Scenario(...)
    """

    steps: tuple[_Step, ...] = ()
    model: str = "scripted-1"
    stop_reason: str = "end_turn"
    _open_turn: bool = field(default=False, repr=False)
    _calls: int = field(default=0, repr=False)

    def _add(self, *steps: _Step, open_turn: bool = True, calls: int = 0) -> Scenario:
        return Scenario(
            self.steps + steps, self.model, self.stop_reason, open_turn, self._calls + calls
        )

    def text(self, content: str, *, chunks: int = 1) -> Scenario:
        """Assistant text streamed in ``chunks`` pieces, then the complete message."""
        if chunks < 1:
            raise ValidationError("chunks must be at least 1")
        size = max(1, math.ceil(len(content) / chunks))
        pieces = [content[i : i + size] for i in range(0, len(content), size)] or [""]
        streamed = tuple(
            ProviderEvent(EventType.MESSAGE_STREAMED, {"delta": piece}) for piece in pieces
        )
        received = ProviderEvent(
            EventType.MESSAGE_RECEIVED, {"role": "assistant", "content": content}
        )
        return self._add(*streamed, received)

    def stream(self, count: int, delta: str = "x") -> Scenario:
        """``count`` streamed chunks of ``delta`` with no final message (for load tests)."""
        event = ProviderEvent(EventType.MESSAGE_STREAMED, {"delta": delta})
        return self._add(*(event,) * count)

    def tool_call(
        self,
        name: str,
        tool_input: dict[str, Any] | None = None,
        *,
        output: Any = None,
        error: str | None = None,
        call_id: str | None = None,
    ) -> Scenario:
        """A tool call and its result (``error`` makes it a failed call)."""
        call_id = call_id or f"call_{self._calls + 1}"
        started = ProviderEvent(
            EventType.TOOL_CALL_STARTED,
            {"tool_call_id": call_id, "tool_name": name, "tool_input": dict(tool_input or {})},
        )
        finished: ProviderEvent
        if error is None:
            finished = ProviderEvent(
                EventType.TOOL_CALL_COMPLETED,
                {"tool_call_id": call_id, "tool_name": name, "tool_output": output},
            )
        else:
            finished = ProviderEvent(
                EventType.TOOL_CALL_FAILED,
                {"tool_call_id": call_id, "tool_name": name, "error_message": error},
            )
        return self._add(started, finished, calls=1)

    def usage(
        self,
        input_tokens: int,
        output_tokens: int,
        *,
        cache_read_tokens: int = 0,
        cache_creation_tokens: int = 0,
    ) -> Scenario:
        """Tokens used by one model call (a delta)."""
        return self._add(
            ProviderEvent(
                EventType.TOKEN_USAGE_UPDATED,
                {
                    "input_tokens": input_tokens,
                    "output_tokens": output_tokens,
                    "cache_read_tokens": cache_read_tokens,
                    "cache_creation_tokens": cache_creation_tokens,
                },
            )
        )

    def end_turn(self, stop_reason: str = "tool_use") -> Scenario:
        """Close the current agent turn (the last turn is closed automatically)."""
        turn = ProviderEvent(EventType.TURN_COMPLETED, {"stop_reason": stop_reason})
        return self._add(turn, open_turn=False)

    def delay(self, seconds: float) -> Scenario:
        """Pause the stream (use ``math.inf`` for a run that only ends by cancel or timeout)."""
        return self._add(_Delay(seconds), open_turn=self._open_turn)

    def fail(
        self, message: str, *, code: str = "provider_error", retryable: bool | None = None
    ) -> Scenario:
        """End the run with a provider error."""
        return self._add(_Fail(message, code, retryable), open_turn=self._open_turn)

    def event(self, event_type: str, data: Any = None) -> Scenario:
        """Emit an arbitrary event as is, valid or not (to test how an app copes)."""
        return self._add(ProviderEvent(event_type, data if data is not None else {}))

    def with_model(self, model: str) -> Scenario:
        return Scenario(self.steps, model, self.stop_reason, self._open_turn, self._calls)

    def with_stop_reason(self, stop_reason: str) -> Scenario:
        return Scenario(self.steps, self.model, stop_reason, self._open_turn, self._calls)


ScenarioSource = Scenario | Sequence[Scenario] | Callable[[RunRequest], Scenario]


class ScriptedAdapter:
    """A ``ProviderAdapter`` that plays scenarios.

    ``scenarios`` is one scenario (every run plays it), a sequence (run *n* plays item *n*; running
    past the end is an error) or a function of the :class:`RunRequest`. Every request received is
    kept in :attr:`requests`, so tests can check what the manager sent (prompt, resume handle).
    """

    def __init__(self, scenarios: ScenarioSource, *, name: str = "scripted") -> None:
        self._source = scenarios
        self._name = name
        self._played = 0
        self._cancelled: dict[str, asyncio.Event] = {}
        self.requests: list[RunRequest] = []

    @property
    def name(self) -> str:
        return self._name

    def capabilities(self) -> Sequence[Capability]:
        return (
            Capability(name="streaming", type=CapabilityType.STREAMING),
            # It stands in for an agent sampling a model, so it declares what such agents do.
            Capability(name="sampling", type=CapabilityType.SAMPLING),
            Capability(name="tools", type=CapabilityType.TOOL),
            Capability(name="resume", type=CapabilityType.RESUME),
            Capability(name="cancel", type=CapabilityType.CANCEL),
        )

    def _scenario_for(self, request: RunRequest) -> Scenario:
        source = self._source
        if isinstance(source, Scenario):
            return source
        if callable(source):
            return source(request)
        if self._played >= len(source):
            raise ValidationError(
                f"scripted adapter has {len(source)} scenarios and was asked for run "
                f"{self._played + 1}"
            )
        scenario = source[self._played]
        self._played += 1
        return scenario

    async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
        self.requests.append(request)
        scenario = self._scenario_for(request)
        cancelled = self._cancelled.setdefault(request.run_id, asyncio.Event())
        try:
            yield ProviderEvent(
                EventType.RUN_STARTED,
                {
                    # Resume the handle the manager passed, else start a new conversation.
                    "provider_session_id": request.provider_session_id or new_id("scripted"),
                    "model": request.options.model or scenario.model,
                },
            )
            for step in scenario.steps:
                if cancelled.is_set():
                    return
                if isinstance(step, ProviderEvent):
                    yield step
                elif isinstance(step, _Delay):
                    await _sleep_unless(cancelled, step.seconds)
                else:
                    raise step.error()
            if cancelled.is_set():
                return
            if scenario._open_turn:
                yield ProviderEvent(EventType.TURN_COMPLETED, {"stop_reason": scenario.stop_reason})
            yield ProviderEvent(EventType.RUN_COMPLETED, {"stop_reason": scenario.stop_reason})
        finally:
            self._cancelled.pop(request.run_id, None)

    async def cancel(self, run_id: str) -> None:
        event = self._cancelled.get(run_id)
        if event is not None:
            event.set()


async def _sleep_unless(cancelled: asyncio.Event, seconds: float) -> None:
    if math.isinf(seconds):
        await cancelled.wait()
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(cancelled.wait(), seconds)
