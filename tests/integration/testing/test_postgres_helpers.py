"""``agent_session_manager.testing.postgres``: skip without a server, fail under ``CI=true``."""

from __future__ import annotations

import pytest

from agent_session_manager.testing.postgres import (
    POSTGRES_URL_ENV,
    in_ci,
    postgres_url_or_skip,
)

NOBODY = "postgresql://127.0.0.1:1/test"  # nothing listens on port 1


def test_no_server_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POSTGRES_URL_ENV, NOBODY)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(
        pytest.skip.Exception, match=r"not reachable at postgresql://127\.0\.0\.1:1"
    ):
        postgres_url_or_skip()


def test_no_server_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POSTGRES_URL_ENV, NOBODY)
    monkeypatch.setenv("CI", "true")
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        postgres_url_or_skip()


def test_passwords_are_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POSTGRES_URL_ENV, "postgresql://me:s3cret@127.0.0.1:1/test")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as info:
        postgres_url_or_skip()
    assert "s3cret" not in str(info.value)
