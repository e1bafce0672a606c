"""The ``ProviderAdapter`` port: what every provider (agent CLI, SDK, router, script) implements.

An adapter turns a :class:`RunRequest` into an async stream of :class:`ProviderEvent` values of
canonical (or custom) types. The session manager owns the run's lifecycle: it numbers, redacts
and persists the events and writes exactly one terminal event. So an adapter:

* yields content events (``message_streamed``, ``message_received``, ``tool_call_*``,
  ``token_usage_updated`` as per-call deltas, ``turn_completed``, ``error_occurred``, custom types);
* may yield one ``run_started`` carrying ``provider_session_id`` / ``model`` (merged into the run's
  single ``run_started`` event) and one final ``run_completed`` carrying ``stop_reason`` and
  optionally ``content``, ``token_usage`` (authoritative run totals) and ``cost_usd``;
* reports failure by raising an :class:`~agent_session_manager.core.errors.ASMError` (usually a
  ``ProviderError`` with the right ``retryable``) or yielding ``run_failed`` with ``error_code`` and
  ``error_message`` (``core.errors.error_event_data`` builds the full data from an error);
* stops its work (process group, connection) when the stream is closed (``aclose``) or
  ``cancel(run_id)`` is called.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from agent_session_manager.core.capabilities import Capability
from agent_session_manager.core.models import Message as Message
from agent_session_manager.core.options import PermissionMode as PermissionMode

__all__ = ["AdapterOptions", "ProviderAdapter", "ProviderEvent", "RunRequest"]


class AdapterOptions(BaseModel):
    """Options shared by every adapter. ``extra`` passes provider-native options through."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    model: str | None = None
    permission_mode: PermissionMode = PermissionMode.DEFAULT
    max_turns: int | None = Field(default=None, ge=1)
    system_prompt: str | None = None
    cwd: str | None = None
    env: Mapping[str, str] = Field(default_factory=dict)
    allowed_tools: tuple[str, ...] = ()
    denied_tools: tuple[str, ...] = ()
    extra: Mapping[str, Any] = Field(default_factory=dict)


class RunRequest(BaseModel):
    """Everything an adapter needs to execute one run."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    run_id: str
    session_id: str
    messages: tuple[Message, ...]
    options: AdapterOptions = Field(default_factory=AdapterOptions)
    #: The provider's own session handle from an earlier run, for native resume.
    provider_session_id: str | None = None

    @property
    def prompt(self) -> str:
        """The text of the last user message (what most CLIs take as their prompt)."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return ""


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """An event as an adapter reports it, before the manager numbers and persists it."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class ProviderAdapter(Protocol):
    """The provider port."""

    @property
    def name(self) -> str:
        """Stable provider name, e.g. ``"claude"``; recorded on runs and events."""

    def capabilities(self) -> Sequence[Capability]:
        """What this provider can do (for capability negotiation)."""

    def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
        """Execute the run, yielding its events as they happen."""

    async def cancel(self, run_id: str) -> None:
        """Stop the run's work (best effort, idempotent; unknown runs are ignored)."""
