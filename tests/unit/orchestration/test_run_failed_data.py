"""``run_failed`` data written by ``error_event_data`` reads back (as the manager reads an
adapter's ``run_failed``) into an equivalent error: same class, code, message, retryable,
category, details and provider error."""

from __future__ import annotations

from typing import Any

import pytest

from agent_session_manager import ASMError
from agent_session_manager.core.errors import ERROR_CODES, error_event_data
from agent_session_manager.core.run_tally import error_from_event as _error_from_event


def _same(a: ASMError, b: ASMError) -> None:
    assert type(a) is type(b)
    assert (a.code, a.message, a.retryable, a.category) == (
        b.code,
        b.message,
        b.retryable,
        b.category,
    )
    assert (a.details, a.provider_error) == (b.details, b.provider_error)


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"details": {"http_status": 529}, "provider_error": {"type": "overloaded_error"}},
    ],
    ids=["bare", "full"],
)
def test_round_trip_through_the_manager_reader(code: str, extra: dict[str, Any]) -> None:
    default_retryable = ERROR_CODES[code][1]
    original = ASMError.from_dict({"code": code, "message": "m", **extra})
    # a retryable flag that differs from the code's default must survive too
    flipped = ASMError.from_dict(
        {"code": code, "message": "m", "retryable": not default_retryable, **extra}
    )
    for error in (original, flipped):
        _same(_error_from_event(error_event_data(error)), error)
