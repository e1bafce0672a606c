"""What a run's execution gives back: :class:`RunResult`, and what a guarded end wrote.

Plain values over the domain records; the manager and its run driver both build them. It knows
the core values only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent_session_manager.core.errors import ASMError
from agent_session_manager.core.events import Event
from agent_session_manager.core.lifecycle import RunStatus
from agent_session_manager.core.models import Run, Session
from agent_session_manager.core.usage import TokenUsage


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run. Run-level failures are values here, not exceptions: check
    :attr:`ok` or call :meth:`raise_for_status`."""

    run: Run
    session: Session
    events: tuple[Event, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return self.run.status is RunStatus.COMPLETED

    @property
    def status(self) -> RunStatus:
        return self.run.status

    @property
    def run_id(self) -> str:
        return self.run.id

    @property
    def session_id(self) -> str:
        return self.run.session_id

    @property
    def output(self) -> dict[str, Any]:
        return self.run.output or {}

    @property
    def content(self) -> str:
        """The assistant's text for this run ("" when the run produced none)."""
        value = self.output.get("content", "")
        return value if isinstance(value, str) else ""

    @property
    def token_usage(self) -> TokenUsage:
        return self.run.token_usage

    @property
    def cost_usd(self) -> float | None:
        return self.run.cost_usd

    @property
    def provider(self) -> str | None:
        return self.run.provider

    @property
    def provider_session_id(self) -> str | None:
        return self.run.provider_session_id

    @property
    def error(self) -> ASMError | None:
        return self.run.error_object

    def raise_for_status(self) -> None:
        """Raise the run's error unless it completed."""
        if self.ok:
            return
        raise self.error or ASMError(f"run {self.run_id} ended {self.status}")


@dataclass(frozen=True, slots=True)
class Ended:
    """The outcome of a guarded terminal write: the run as stored, and whether we wrote it."""

    run: Run
    session: Session | None
    events: tuple[Event, ...]
    won: bool
