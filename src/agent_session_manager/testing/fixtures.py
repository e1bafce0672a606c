"""Pytest fixtures for testing against the real agent CLIs offline.

Import them into a ``conftest.py``::

    from agent_session_manager.testing.fixtures import (  # noqa: F401
        claude_binary, codex_binary, fake_model_server,
    )

``fake_model_server`` is a running ``FakeModelServer`` with the default script (call
``set_script`` in the test). ``claude_binary`` / ``codex_binary`` locate the CLIs
(``$ASM_CLAUDE_PATH`` / ``$ASM_CODEX_PATH``, the project's ``.tools/npm`` that ``make tools``
fills, then PATH); when one is missing the test is skipped with the reason, or fails under
``CI=true``, where the real-CLI tests must run. This module knows pytest and the testing kit; the
library proper never imports it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from agent_session_manager.testing.cli_env import find_cli
from agent_session_manager.testing.fake_model import FakeModelServer

__all__ = ["claude_binary", "codex_binary", "fake_model_server", "require_cli"]


def require_cli(name: str, env_var: str, package: str) -> str:
    """The path of CLI ``name``, else skip the test (fail under ``CI=true``) saying why."""
    path = find_cli(name, env_var=env_var)
    if path is not None:
        return path
    if shutil.which("npm") is None:
        reason = f"npm is not installed, so the pinned {package} cannot be installed"
    else:
        reason = f"{name} not found: run `make tools` (installs {package} into .tools/npm)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true requires the real-CLI tests to run: {reason}")
    pytest.skip(reason)


@pytest.fixture
def fake_model_server() -> Iterator[FakeModelServer]:
    """A fake model server on 127.0.0.1 (free port), stopped after the test."""
    with FakeModelServer() as server:
        yield server


@pytest.fixture
def claude_binary() -> str:
    """Path of the ``claude`` CLI, or skip (fail under ``CI=true``)."""
    return require_cli("claude", "ASM_CLAUDE_PATH", "@anthropic-ai/claude-code")


@pytest.fixture
def codex_binary() -> str:
    """Path of the ``codex`` CLI, or skip (fail under ``CI=true``)."""
    return require_cli("codex", "ASM_CODEX_PATH", "@openai/codex")
