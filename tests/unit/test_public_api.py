"""The public surface: every exported name resolves, and importing the package stays light."""

from __future__ import annotations

import subprocess
import sys

import agent_session_manager

HEAVY = ("sqlalchemy", "alembic", "asyncpg", "aiohttp", "acp", "boto3", "opentelemetry.sdk", "rich")


def test_every_exported_name_resolves() -> None:
    missing = [n for n in agent_session_manager.__all__ if not hasattr(agent_session_manager, n)]
    assert missing == []


def test_import_loads_no_backend_provider_sdk_or_terminal_library() -> None:
    code = (
        "import sys, agent_session_manager\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
