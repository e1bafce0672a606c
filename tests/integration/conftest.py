"""Fixtures for the integration tests: a PostgreSQL server and a database for this test session.

``postgres_database`` creates one database with a unique name (migrated to head) for the whole
test session and drops it at the end; ``postgres_url`` empties it before each test. Without a
server they skip, or fail under ``CI=true`` (see ``agent_session_manager.testing.postgres``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent_session_manager.testing.postgres import (
    postgres_url_or_skip,
    reset_database,
    temporary_database,
)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The server URL (skips, or fails under CI=true, when there is none)."""
    return postgres_url_or_skip()


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A database of this test session, at the head revision."""
    from agent_session_manager.store.sql.migrations import upgrade_to_head

    with temporary_database(postgres_server, prefix="asm_pg_test") as url:
        upgrade_to_head(url)
        yield url


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """The session's database, emptied for this test."""
    reset_database(postgres_database)
    return postgres_database
