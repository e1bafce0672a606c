from __future__ import annotations

import pytest

from agent_session_manager import (
    ASMError,
    ErrorCategory,
    EventType,
    ProviderError,
    RunNotFound,
    ValidationError,
    is_retryable,
)
from agent_session_manager.core.errors import ERROR_CODES, error_event_data
from agent_session_manager.core.events import validate_event_data


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


def test_error_event_data_carries_every_field_under_the_event_names() -> None:
    error = ProviderError(
        "overloaded",
        code="provider_overloaded",
        details={"http_status": 529},
        provider_error={"type": "overloaded_error"},
        retryable=False,
    )
    data = error_event_data(error)
    assert data == {
        "error_code": "provider_overloaded",
        "error_message": "overloaded",
        "category": "provider",
        "retryable": False,
        "details": {"http_status": 529},
        "provider_error": {"type": "overloaded_error"},
    }
    validate_event_data(EventType.RUN_FAILED, data)
    validate_event_data(EventType.SESSION_FAILED, data)


@pytest.mark.parametrize(
    "error",
    [
        ASMError("boom"),
        ASMError("boom", details={}, provider_error=None),
    ],
)
def test_error_event_data_omits_empty_details_and_missing_provider_error(
    error: ASMError,
) -> None:
    data = error_event_data(error)
    assert data == {
        "error_code": "internal_error",
        "error_message": "boom",
        "category": "runtime",
        "retryable": False,
    }
    validate_event_data(EventType.RUN_FAILED, data)


def test_error_event_data_is_to_dict_under_the_event_names() -> None:
    # The run's stored ``error`` and its ``run_failed`` event carry the same fields.
    error = ProviderError("x", details={"a": 1}, provider_error={"b": 2})
    data = error_event_data(error)
    stored = error.to_dict()
    assert data.pop("error_code") == stored.pop("code")
    assert data.pop("error_message") == stored.pop("message")
    assert data == stored
