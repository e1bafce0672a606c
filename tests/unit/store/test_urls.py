"""Store URLs as shown to people: never with the password."""

from __future__ import annotations

import pytest

from agent_session_manager.store.urls import hide_password


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@127.0.0.1:5432/db", "postgresql://app:***@127.0.0.1:5432/db"),
        ("postgresql://app:p%40ss@db.internal/x", "postgresql://app:***@db.internal/x"),
        ("postgresql://127.0.0.1/test", "postgresql://127.0.0.1/test"),
        ("sqlite:////tmp/asm.db", "sqlite:////tmp/asm.db"),
        ("memory://", "memory://"),
        ("postgresql://app:s3cret@[::1]:5432/db?x=1", "postgresql://app:***@[::1]:5432/db?x=1"),
        ("postgresql://:s3cret@host/db", "postgresql://:***@host/db"),
        ("postgresql://app@host/db", "postgresql://app@host/db"),
        ("postgresql://app:s3cret@[::1/db", "<unparsable URL>"),
    ],
)
def test_store_urls_are_shown_without_passwords(url: str, shown: str) -> None:
    assert hide_password(url) == shown
