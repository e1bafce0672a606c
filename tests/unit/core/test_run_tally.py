"""The run's rules as a value: every outcome gives exactly one terminal event and status.

A table of what an adapter reported and how the run ended, against the conclusion the driver
writes; no asyncio, no store, no adapter.
"""

from __future__ import annotations

from typing import Any

import pytest

from agent_session_manager import (
    ASMError,
    ConcurrencyError,
    EventType,
    ProviderError,
    Run,
    RunCancelled,
    RunStatus,
    RunTimeout,
)
from agent_session_manager.core.events import TERMINAL_RUN_EVENTS
from agent_session_manager.core.lifecycle import RUN_TRANSITIONS
from agent_session_manager.core.run_tally import (
    ADAPTER_LIFECYCLE,
    TRACKED,
    RunTally,
    as_run_error,
    error_from_event,
)

_Reported = list[tuple[str, Any]]

_CONTENT: _Reported = [
    (EventType.RUN_STARTED, {"provider_session_id": "native-1", "model": "m-2"}),
    (EventType.MESSAGE_RECEIVED, {"role": "assistant", "content": "hello"}),
    (EventType.TOOL_CALL_STARTED, {"tool_call_id": "t", "tool_name": "bash", "tool_input": {}}),
    (EventType.TOKEN_USAGE_UPDATED, {"input_tokens": 3, "output_tokens": 4}),
    (EventType.TURN_COMPLETED, {}),
    (EventType.TOKEN_USAGE_UPDATED, {"input_tokens": 1, "output_tokens": 1}),
    (EventType.MESSAGE_RECEIVED, {"role": "assistant", "content": "bye"}),
    (EventType.TURN_COMPLETED, {}),
]
_COMPLETED: _Reported = [
    (EventType.RUN_COMPLETED, {"stop_reason": "max_tokens", "cost_usd": 0.25}),
]

# (name, reported by the adapter, error the driver saw, cancel reason, started, expected)
CASES: list[tuple[str, _Reported, ASMError | None, str | None, bool, RunStatus]] = [
    ("success", _CONTENT + _COMPLETED, None, None, True, RunStatus.COMPLETED),
    ("success, silent adapter", [], None, None, True, RunStatus.COMPLETED),
    ("provider error", _CONTENT, ProviderError("boom"), None, True, RunStatus.FAILED),
    ("cancel", _CONTENT, RunCancelled("run cancelled"), "user", True, RunStatus.CANCELLED),
    (
        "timeout",
        _CONTENT,
        RunTimeout("t", details={"timeout_s": 2}),
        None,
        True,
        RunStatus.TIMED_OUT,
    ),
    (
        "store refused",
        _CONTENT,
        ConcurrencyError("x", code="run_ended"),
        None,
        True,
        RunStatus.FAILED,
    ),
    ("pending cancelled", [], RunCancelled("run cancelled"), None, False, RunStatus.CANCELLED),
    ("pending failed", [], ProviderError("no slot"), None, False, RunStatus.FAILED),
]


def _tally(reported: _Reported, *, started: bool) -> RunTally:
    tally = RunTally("scripted", "m-1", started=started)
    for kind, data in reported:
        if kind in ADAPTER_LIFECYCLE:
            tally.absorb(kind, data)
        else:
            tally.announce()  # the driver writes run_started here, before the first content
            if kind in TRACKED:
                tally.track(kind, data)
    return tally


@pytest.mark.parametrize(
    ("reported", "error", "reason", "started", "status"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_every_outcome_gives_exactly_one_terminal_event_and_status(
    reported: _Reported,
    error: ASMError | None,
    reason: str | None,
    started: bool,
    status: RunStatus,
) -> None:
    tally = _tally(reported, started=started)
    conclusion = tally.conclude(error, cancel_reason=reason)
    kinds = [kind for kind, _ in conclusion.events]
    assert [k for k in kinds if k in TERMINAL_RUN_EVENTS] == [kinds[-1]]
    assert conclusion.status is status
    assert kinds[-1] == f"run_{status}"
    # run_started precedes it exactly when a started run has not announced itself yet.
    assert kinds[:-1] == (["run_started"] if started and not reported else [])
    # The conclusion is a legal transition from where the run is.
    start = RunStatus.RUNNING if started else RunStatus.PENDING
    assert status in RUN_TRANSITIONS[start]
    base = Run(session_id="ses_x").transition(start) if started else Run(session_id="ses_x")
    final = base.transition(conclusion.status, **conclusion.run_changes)
    assert final.status is status
    assert (final.error is None) == (error is None)


def test_a_completed_run_totals_what_it_streamed() -> None:
    conclusion = _tally(_CONTENT + _COMPLETED, started=True).conclude(None)
    ((kind, data),) = conclusion.events
    assert kind == "run_completed"
    assert data["stop_reason"] == "max_tokens"
    assert (data["token_usage"]["input_tokens"], data["token_usage"]["output_tokens"]) == (4, 5)
    assert (data["turn_count"], data["cost_usd"]) == (2, 0.25)
    changes = conclusion.run_changes
    assert changes["output"] == {"content": "hello\n\nbye", "stop_reason": "max_tokens"}
    assert changes["provider_session_id"] == "native-1"
    assert changes["model"] == "m-2"
    assert conclusion.handle is not None
    assert conclusion.handle.provider_session_id == "native-1"


def test_reported_totals_and_content_win_over_the_streamed_ones() -> None:
    completion = {
        "stop_reason": "end_turn",
        "content": "final answer",
        "token_usage": {"input_tokens": 100, "output_tokens": 7},
    }
    tally = _tally([*_CONTENT, (EventType.RUN_COMPLETED, completion)], started=True)
    conclusion = tally.conclude(None)
    assert conclusion.run_changes["output"]["content"] == "final answer"
    assert conclusion.run_changes["token_usage"].input_tokens == 100


def test_a_cancel_keeps_the_cancellers_reason() -> None:
    tally = _tally(_CONTENT, started=True)
    cancelled = tally.conclude(RunCancelled("run cancelled"), cancel_reason="changed my mind")
    assert cancelled.terminal_event == ("run_cancelled", {"reason": "changed my mind"})
    assert tally.conclude(RunCancelled("run cancelled")).terminal_event[1] == {
        "reason": "run cancelled"
    }


def test_a_run_that_never_started_has_no_result_fields_or_handle() -> None:
    conclusion = _tally([], started=False).conclude(ProviderError("no slot"))
    assert set(conclusion.run_changes) == {"error"}
    assert conclusion.handle is None


def test_the_record_is_redacted_with_the_given_function() -> None:
    def redact(value: Any) -> Any:
        return {"redacted": True}

    conclusion = _tally(_CONTENT, started=True).conclude(ProviderError("k"), redact=redact)
    assert conclusion.run_changes["output"] == {"redacted": True}
    assert conclusion.run_changes["error"] == {"redacted": True}


@pytest.mark.parametrize(
    ("kind", "data", "error"),
    [
        (
            EventType.RUN_FAILED,
            {"error_code": "provider_rate_limited", "error_message": "slow"},
            "provider_rate_limited",
        ),
        (EventType.RUN_FAILED, "not a dict", "provider_error"),
        (EventType.RUN_CANCELLED, {}, "cancelled"),
        (EventType.RUN_TIMED_OUT, {}, "timeout"),
        (EventType.SESSION_COMPLETED, {}, "provider_protocol_error"),
        (EventType.MESSAGE_SENT, {}, "provider_protocol_error"),
    ],
)
def test_reported_lifecycle_raises_what_it_means(kind: str, data: Any, error: str) -> None:
    with pytest.raises(ASMError) as caught:
        RunTally("scripted").absorb(kind, data)
    assert caught.value.code == error


def test_announce_gives_the_start_data_once() -> None:
    tally = RunTally("scripted", "m-1")
    tally.absorb(EventType.RUN_STARTED, {"provider_session_id": "p", "model": None})
    assert tally.announce() == {"provider": "scripted", "model": "m-1", "provider_session_id": "p"}
    assert tally.announce() is None
    assert [k for k, _ in tally.conclude(None).events] == ["run_completed"]


def test_foreign_exceptions_become_provider_errors() -> None:
    error = as_run_error(KeyError("x"))
    assert error.code == "provider_error"
    assert isinstance(error.__cause__, KeyError)
    same = RunTimeout("t")
    assert as_run_error(same) is same
    assert error_from_event({"error_message": "m"}).code == "provider_error"
