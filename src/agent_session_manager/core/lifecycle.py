"""Session and run statuses and the transition tables that govern them.

The tables are the single source of truth: ``Session.transition`` and ``Run.transition`` consult
them and raise :class:`InvalidTransition` for anything else. Terminal statuses have no way out.
"""

from __future__ import annotations

from enum import StrEnum

from agent_session_manager.core.errors import InvalidTransition

__all__ = [
    "RUN_TRANSITIONS",
    "SESSION_TRANSITIONS",
    "RunStatus",
    "SessionStatus",
    "check_run_transition",
    "check_session_transition",
]


class SessionStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in _SESSION_TERMINAL


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def is_terminal(self) -> bool:
        return self in _RUN_TERMINAL


_SESSION_TERMINAL = frozenset(
    {SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELLED}
)
_RUN_TERMINAL = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMED_OUT}
)

SESSION_TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    SessionStatus.PENDING: frozenset(
        {SessionStatus.ACTIVE, SessionStatus.FAILED, SessionStatus.CANCELLED}
    ),
    SessionStatus.ACTIVE: frozenset(
        {
            SessionStatus.PAUSED,
            SessionStatus.COMPLETED,
            SessionStatus.FAILED,
            SessionStatus.CANCELLED,
        }
    ),
    SessionStatus.PAUSED: frozenset(
        {
            SessionStatus.ACTIVE,
            SessionStatus.COMPLETED,
            SessionStatus.FAILED,
            SessionStatus.CANCELLED,
        }
    ),
    SessionStatus.COMPLETED: frozenset(),
    SessionStatus.FAILED: frozenset(),
    SessionStatus.CANCELLED: frozenset(),
}

RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    # A pending run may be cancelled (or fail preflight) before it ever starts.
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset(
        {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMED_OUT}
    ),
    RunStatus.COMPLETED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
    RunStatus.TIMED_OUT: frozenset(),
}


def check_session_transition(record_id: str, current: SessionStatus, target: SessionStatus) -> None:
    if target not in SESSION_TRANSITIONS[current]:
        raise InvalidTransition(
            f"session {record_id} cannot go from {current} to {target}",
            details={"id": record_id, "from": str(current), "to": str(target)},
        )


def check_run_transition(record_id: str, current: RunStatus, target: RunStatus) -> None:
    if target not in RUN_TRANSITIONS[current]:
        raise InvalidTransition(
            f"run {record_id} cannot go from {current} to {target}",
            details={"id": record_id, "from": str(current), "to": str(target)},
        )
