"""State machines: each transition follows the table or raises, leaving the value as it was."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_session_manager import InvalidTransition, Run, RunStatus, Session, SessionStatus
from agent_session_manager.core.lifecycle import RUN_TRANSITIONS, SESSION_TRANSITIONS


@given(st.lists(st.sampled_from(list(SessionStatus)), max_size=12))
def test_session_transitions_follow_the_table(targets: list[SessionStatus]) -> None:
    session = Session(agent_id="agent")
    for target in targets:
        before = session
        allowed = target in SESSION_TRANSITIONS[session.status]
        if allowed:
            session = session.transition(target)
            assert session.status is target
            assert session.updated_at >= before.updated_at
        else:
            with pytest.raises(InvalidTransition) as info:
                session.transition(target)
            assert info.value.code == "invalid_transition"
            assert session == before  # unchanged


@given(st.lists(st.sampled_from(list(RunStatus)), max_size=8))
def test_run_transitions_follow_the_table(targets: list[RunStatus]) -> None:
    run = Run(session_id="ses_x")
    for target in targets:
        before = run
        if target in RUN_TRANSITIONS[run.status]:
            run = run.transition(target)
            assert run.status is target
            if target is RunStatus.RUNNING:
                assert run.started_at is not None
            if target.is_terminal:
                assert run.ended_at is not None
        else:
            with pytest.raises(InvalidTransition):
                run.transition(target)
            assert run == before


@pytest.mark.parametrize("status", [s for s in RunStatus if s.is_terminal])
def test_terminal_run_statuses_are_final(status: RunStatus) -> None:
    run = Run(session_id="ses_x").transition(RunStatus.RUNNING).transition(status)
    for target in RunStatus:
        with pytest.raises(InvalidTransition):
            run.transition(target)


def test_documented_session_path() -> None:
    session = Session(agent_id="a")
    for target in (
        SessionStatus.ACTIVE,
        SessionStatus.PAUSED,
        SessionStatus.ACTIVE,
        SessionStatus.COMPLETED,
    ):
        session = session.transition(target)
    assert session.status is SessionStatus.COMPLETED


def test_models_are_immutable() -> None:
    session = Session(agent_id="a")
    with pytest.raises(ValueError, match="frozen"):
        session.status = SessionStatus.ACTIVE  # type: ignore[misc]


def test_naive_timestamps_are_rejected() -> None:
    from datetime import datetime

    with pytest.raises(ValueError, match="timezone-aware"):
        Session(agent_id="a", created_at=datetime(2026, 1, 1))
