"""What the built-in adapters declare: the seed's capability example holds for every adapter
whose agent samples a model (``required={"sampling"}, optional={"tool"}``), and the shell
adapter, which samples none, is refused with a clear code."""

from __future__ import annotations

import pytest

from agent_session_manager import (
    ACPAdapter,
    AmpAdapter,
    CapabilityResolver,
    CapabilityType,
    ClaudeAdapter,
    CodexAdapter,
    NegotiationStatus,
    ProviderAdapter,
    Scenario,
    ScriptedAdapter,
    ShellAdapter,
    ValidationError,
)

SEED_EXAMPLE = CapabilityResolver(
    required=frozenset({CapabilityType.SAMPLING}), optional=frozenset({CapabilityType.TOOL})
)


@pytest.mark.parametrize(
    "adapter",
    [
        ClaudeAdapter(),
        CodexAdapter(),
        AmpAdapter(),
        ACPAdapter("claude-code-acp"),
        ScriptedAdapter(Scenario()),
    ],
    ids=lambda adapter: type(adapter).__name__,
)
def test_every_adapter_whose_agent_samples_a_model_declares_sampling(
    adapter: ProviderAdapter,
) -> None:
    result = SEED_EXAMPLE.negotiate(adapter.capabilities())
    assert result.status is NegotiationStatus.FULL
    assert result.supported == {CapabilityType.SAMPLING, CapabilityType.TOOL}


def test_the_shell_adapter_samples_no_model_and_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        SEED_EXAMPLE.negotiate(ShellAdapter().capabilities())
    assert caught.value.code == "missing_required_capability"
    assert caught.value.details == {"missing": ["sampling"]}
