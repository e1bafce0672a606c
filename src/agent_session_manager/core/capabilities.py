"""Capabilities, manifests and capability negotiation.

An adapter declares what it can do as :class:`Capability` values; a caller states what a run
needs through :class:`CapabilityResolver`, whose :meth:`~CapabilityResolver.negotiate` answers
``full`` (everything), ``degraded`` (optional ones missing) or raises (a required one missing).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent_session_manager.core.errors import ValidationError

__all__ = [
    "Capability",
    "CapabilityResolver",
    "CapabilityType",
    "Manifest",
    "NegotiationResult",
    "NegotiationStatus",
]


class CapabilityType(StrEnum):
    TOOL = "tool"
    RESOURCE = "resource"
    PROMPT = "prompt"
    SAMPLING = "sampling"
    FILE_ACCESS = "file_access"
    NETWORK_ACCESS = "network_access"
    CODE_EXECUTION = "code_execution"
    STREAMING = "streaming"
    RESUME = "resume"
    CANCEL = "cancel"


class Capability(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str = Field(min_length=1)
    type: CapabilityType
    enabled: bool = True
    description: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)


class Manifest(BaseModel):
    """A named, versioned set of capabilities (an agent's or a provider's declaration)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str | None = None
    provider: str | None = None
    capabilities: tuple[Capability, ...] = ()
    metadata: dict[str, Any] = Field(default_factory=dict)

    def model_post_init(self, _context: Any) -> None:
        seen: set[str] = set()
        for capability in self.capabilities:
            if capability.name in seen:
                raise ValidationError(
                    f"duplicate capability {capability.name!r} in manifest {self.name!r}",
                    code="duplicate_capability",
                )
            seen.add(capability.name)

    def enabled_capabilities(self) -> tuple[Capability, ...]:
        return tuple(c for c in self.capabilities if c.enabled)


class NegotiationStatus(StrEnum):
    FULL = "full"
    DEGRADED = "degraded"


class NegotiationResult(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    status: NegotiationStatus
    supported: frozenset[CapabilityType]
    unsupported: frozenset[CapabilityType]
    warnings: tuple[str, ...] = ()


class CapabilityResolver(BaseModel):
    """Required and optional capability types for a run."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    required: frozenset[CapabilityType] = frozenset()
    optional: frozenset[CapabilityType] = frozenset()

    def negotiate(self, capabilities: Any) -> NegotiationResult:
        """Match against an adapter's capabilities (disabled ones do not count).

        Raises :class:`ValidationError` (code ``missing_required_capability``) naming every
        missing required type.
        """
        available = {c.type for c in capabilities if c.enabled}
        missing = sorted(self.required - available)
        if missing:
            raise ValidationError(
                "provider lacks required capabilities: " + ", ".join(missing),
                code="missing_required_capability",
                details={"missing": list(missing)},
            )
        unsupported = self.optional - available
        return NegotiationResult(
            status=NegotiationStatus.DEGRADED if unsupported else NegotiationStatus.FULL,
            supported=frozenset((self.required | self.optional) & available),
            unsupported=frozenset(unsupported),
            warnings=tuple(
                f"optional capability {t} is not supported" for t in sorted(unsupported)
            ),
        )
