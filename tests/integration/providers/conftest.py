"""Fixtures for the real-CLI provider tests: the fake model server, a temporary git workspace,
the CLI binaries, and managers over a fresh store (helpers live in tests/support)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent_session_manager import InMemorySessionStore, SessionManager
from agent_session_manager.testing.fixtures import (  # noqa: F401 (fixtures)
    claude_binary,
    codex_binary,
    fake_model_server,
    require_cli,
)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    folder.mkdir()
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    return folder


@pytest.fixture
def manager_for() -> Callable[[Any], SessionManager]:
    def make(adapter: Any) -> SessionManager:
        return SessionManager(InMemorySessionStore(), adapter, default_timeout=60)

    return make


@pytest.fixture
def claude_acp_binary() -> str:
    """Path of ``claude-code-acp`` (@zed-industries/claude-code-acp), or skip (fail under CI)."""
    return require_cli("claude-code-acp", "ASM_CLAUDE_ACP_PATH", "@zed-industries/claude-code-acp")


@pytest.fixture
def codex_acp_binary() -> str:
    """Path of ``codex-acp`` (@zed-industries/codex-acp), or skip (fail under CI)."""
    return require_cli("codex-acp", "ASM_CODEX_ACP_PATH", "@zed-industries/codex-acp")


@pytest.fixture
def amp_binary() -> str:
    """Path of the legacy ``amp`` (@sourcegraph/amp), or skip (fail under CI)."""
    return require_cli("amp", "ASM_AMP_PATH", "@sourcegraph/amp (legacy, pinned)")
