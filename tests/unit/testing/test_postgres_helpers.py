"""``agent_session_manager.testing.postgres`` without a server: URL helpers."""

from __future__ import annotations

from agent_session_manager.testing.postgres import with_database


def test_with_database_swaps_only_the_database() -> None:
    assert (
        with_database("postgresql://u:p@127.0.0.1:5432/test?sslmode=disable", "other")
        == "postgresql://u:p@127.0.0.1:5432/other?sslmode=disable"
    )
