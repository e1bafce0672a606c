"""Sessions and runs: frozen pydantic values whose status changes go through the state machine.

A transition returns a new value (``session.transition(SessionStatus.ACTIVE)``); an illegal one
raises :class:`InvalidTransition` and leaves the original untouched, because nothing is mutated.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent_session_manager.core.clock import ensure_utc, utcnow
from agent_session_manager.core.errors import ASMError, ValidationError
from agent_session_manager.core.ids import new_run_id, new_session_id
from agent_session_manager.core.lifecycle import (
    RunStatus,
    SessionStatus,
    check_run_transition,
    check_session_transition,
)
from agent_session_manager.core.usage import TokenUsage

__all__ = ["Message", "ProviderHandle", "Run", "Session", "normalize_input"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False, defer_build=True)

    @field_validator("*", mode="after")
    @classmethod
    def _aware(cls, value: Any) -> Any:
        return ensure_utc(value) if isinstance(value, datetime) else value

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (timestamps as RFC 3339 strings)."""
        return self.model_dump(mode="json")


class ProviderHandle(BaseModel):
    """What a provider needs to resume its own conversation on the next run."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    provider_session_id: str
    model: str | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class Session(_Record):
    """A conversation with one agent: a sequence of runs over one event log."""

    id: str = Field(default_factory=new_session_id)
    agent_id: str = Field(min_length=1)
    status: SessionStatus = SessionStatus.PENDING
    context: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: tuple[str, ...] = ()
    provider: str | None = None
    provider_handles: dict[str, ProviderHandle] = Field(default_factory=dict)
    workspace: str | None = None
    parent_session_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def system_prompt(self) -> str | None:
        value = self.context.get("system_prompt")
        return value if isinstance(value, str) else None

    def transition(self, target: SessionStatus) -> Session:
        """Move to ``target`` or raise :class:`InvalidTransition` (self is unchanged)."""
        check_session_transition(self.id, self.status, target)
        return self.model_copy(update={"status": target, "updated_at": utcnow()})

    def with_provider_handle(self, provider: str, handle: ProviderHandle) -> Session:
        handles = {**self.provider_handles, provider: handle}
        return self.model_copy(update={"provider_handles": handles, "updated_at": utcnow()})


class Run(_Record):
    """One request to the agent within a session, from input to a terminal status."""

    id: str = Field(default_factory=new_run_id)
    session_id: str = Field(min_length=1)
    status: RunStatus = RunStatus.PENDING
    input: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    token_usage: TokenUsage = Field(default_factory=TokenUsage)
    turn_count: int = Field(default=0, ge=0)
    cost_usd: float | None = None
    provider: str | None = None
    model: str | None = None
    provider_session_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    ended_at: datetime | None = None

    def transition(self, target: RunStatus, **changes: Any) -> Run:
        """Move to ``target`` (setting ``started_at``/``ended_at``) with optional field changes.

        Raises :class:`InvalidTransition` and leaves ``self`` unchanged if the table forbids it.
        """
        check_run_transition(self.id, self.status, target)
        now = utcnow()
        update: dict[str, Any] = {"status": target, **changes}
        if target is RunStatus.RUNNING:
            update.setdefault("started_at", now)
        if target.is_terminal:
            update.setdefault("ended_at", now)
        return self.model_copy(update=update)

    @property
    def error_object(self) -> ASMError | None:
        """The run's error as an exception value (``None`` unless the run failed)."""
        return ASMError.from_dict(self.error) if self.error else None

    @property
    def duration_ms(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds() * 1000


class Message(BaseModel):
    """One conversational message given to the provider."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    role: str = Field(min_length=1)
    content: str


def normalize_input(value: str | Mapping[str, Any]) -> tuple[Message, ...]:
    """Turn a run input into messages; raise ``ValidationError`` for anything unusable."""
    if isinstance(value, str):
        raw: Any = [{"role": "user", "content": value}]
    elif isinstance(value, Mapping) and isinstance(value.get("messages"), list | tuple):
        raw = value["messages"]
    elif isinstance(value, Mapping) and isinstance(value.get("prompt"), str):
        raw = [{"role": "user", "content": value["prompt"]}]
    else:
        raise ValidationError(
            "run input must be a prompt string, {'prompt': str} or {'messages': [...]}"
        )
    try:
        messages = tuple(Message.model_validate(m) for m in raw)
    except ValueError as exc:
        raise ValidationError(f"invalid run input message: {exc}") from exc
    if not messages or not any(m.content.strip() for m in messages):
        raise ValidationError("run input has no message content")
    return messages
