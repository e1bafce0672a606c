from __future__ import annotations

import pytest

from agent_session_manager import (
    ASMError,
    ErrorCategory,
    ProviderError,
    RunNotFound,
    ValidationError,
    is_retryable,
)
from agent_session_manager.core.errors import ERROR_CODES


def test_codes_have_categories_and_retryable_defaults() -> None:
    assert ProviderError("x", code="provider_rate_limited").retryable is True
    assert ProviderError("x", code="provider_authentication_failed").retryable is False
    assert ProviderError("x", code="provider_unavailable").category is ErrorCategory.PROVIDER
    assert ValidationError("x").category is ErrorCategory.VALIDATION
    assert RunNotFound("x").code == "run_not_found"


def test_retryable_can_be_overridden_and_is_public() -> None:
    assert is_retryable(ProviderError("x", retryable=True))
    assert not is_retryable(ProviderError("x", code="provider_timeout", retryable=False))
    assert not is_retryable(RuntimeError("boom"))


def test_str_carries_the_code() -> None:
    assert str(ValidationError("bad input")) == "[validation_error] bad input"


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_dict_round_trip_rebuilds_the_right_class(code: str) -> None:
    original = ASMError(
        "m", code=code, details={"a": 1}, provider_error={"status": 529}, retryable=True
    )
    rebuilt = ASMError.from_dict(original.to_dict())
    assert rebuilt.code == code
    assert rebuilt.details == {"a": 1}
    assert rebuilt.provider_error == {"status": 529}
    assert rebuilt.retryable is True
    assert rebuilt.category is original.category
