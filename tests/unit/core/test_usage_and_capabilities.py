from __future__ import annotations

import pytest

from agent_session_manager import (
    Capability,
    CapabilityResolver,
    CapabilityType,
    Manifest,
    NegotiationStatus,
    TokenUsage,
    ValidationError,
)


def test_usage_addition_is_explicit_and_total_is_derived() -> None:
    a = TokenUsage(input_tokens=10, output_tokens=5, cache_read_tokens=4)
    b = TokenUsage(input_tokens=1, output_tokens=2, cache_creation_tokens=3)
    total = a + b
    assert (total.input_tokens, total.output_tokens) == (11, 7)
    assert (total.cache_read_tokens, total.cache_creation_tokens) == (4, 3)
    assert total.total_tokens == 18
    assert total.to_dict()["total_tokens"] == 18


def test_cumulative_snapshots_become_deltas() -> None:
    first = TokenUsage(input_tokens=100, output_tokens=10)
    second = TokenUsage(input_tokens=250, output_tokens=30)
    assert second.since(first) == TokenUsage(input_tokens=150, output_tokens=20)
    # A provider that resets its counters: the new figures are the delta.
    assert TokenUsage(input_tokens=5).since(second) == TokenUsage(input_tokens=5)
    # Summing the deltas gives the last snapshot, never more.
    assert first + second.since(first) == second


def test_usage_rejects_negative_figures_and_unknown_keys() -> None:
    with pytest.raises(ValueError, match="greater than or equal"):
        TokenUsage(input_tokens=-1)
    assert TokenUsage.from_dict({"input_tokens": 3, "total_tokens": 99}).total_tokens == 3


def _caps(*types: CapabilityType, disabled: CapabilityType | None = None) -> list[Capability]:
    caps = [Capability(name=t.value, type=t) for t in types]
    if disabled is not None:
        caps.append(Capability(name="off", type=disabled, enabled=False))
    return caps


def test_negotiation_full_degraded_and_error() -> None:
    available = _caps(CapabilityType.TOOL, CapabilityType.STREAMING, disabled=CapabilityType.RESUME)
    full = CapabilityResolver(required=frozenset({CapabilityType.TOOL})).negotiate(available)
    assert full.status is NegotiationStatus.FULL
    degraded = CapabilityResolver(
        required=frozenset({CapabilityType.TOOL}),
        optional=frozenset({CapabilityType.RESUME, CapabilityType.STREAMING}),
    ).negotiate(available)
    assert degraded.status is NegotiationStatus.DEGRADED
    assert degraded.unsupported == {CapabilityType.RESUME}  # disabled does not count
    assert degraded.supported == {CapabilityType.TOOL, CapabilityType.STREAMING}
    assert degraded.warnings
    with pytest.raises(ValidationError) as info:
        CapabilityResolver(
            required=frozenset({CapabilityType.NETWORK_ACCESS, CapabilityType.RESUME})
        ).negotiate(available)
    assert info.value.code == "missing_required_capability"
    assert info.value.details["missing"] == ["network_access", "resume"]


def test_manifest_rejects_duplicate_capabilities() -> None:
    cap = Capability(name="bash", type=CapabilityType.CODE_EXECUTION)
    manifest = Manifest(name="agent", version="1", capabilities=(cap,))
    assert manifest.enabled_capabilities() == (cap,)
    with pytest.raises(ValidationError) as info:
        Manifest(name="agent", version="1", capabilities=(cap, cap))
    assert info.value.code == "duplicate_capability"
    with pytest.raises(ValueError, match="at least 1 character"):
        Capability(name="", type=CapabilityType.TOOL)
