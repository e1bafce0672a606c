"""Shared setup for the real-CLI provider tests: the fake model server, a temporary git
workspace, offline CLI environments, managers over a fresh store, and process-group checks."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent_session_manager import InMemorySessionStore, SessionManager
from agent_session_manager.testing.fake_model import rule, shell, text, tool
from agent_session_manager.testing.fixtures import (  # noqa: F401 (fixtures)
    claude_binary,
    codex_binary,
    fake_model_server,
    require_cli,
)

#: The model writes a file with its shell tool, then reports the tool's output.
TOOL_RULES = [
    rule(
        text("I'll create the file."),
        shell("echo hi > out.txt && cat out.txt"),
        user_contains="write the file",
        after_tool_result=False,
        usage={"input_tokens": 1000, "output_tokens": 20},
    ),
    rule(
        text("The command ran. Output: {tool_output}"),
        after_tool_result=True,
        usage={"input_tokens": 1100, "output_tokens": 10},
    ),
]


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


def group_members(pgid: int) -> list[tuple[int, str, int]]:
    """(pid, state, parent pid) of every process, zombies included, in process group ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            members.append((int(entry), fields[0], int(fields[1])))
    return members


def ours(pgid: int) -> list[tuple[int, str, int]]:
    """Members of the group we are answerable for: everything except zombies already handed to
    init (tool processes orphaned by the CLI's death; init reaps them, on its own schedule)."""
    return [m for m in group_members(pgid) if not (m[1] == "Z" and m[2] == 1)]


def wait_group_gone(pgid: int, timeout: float = 10.0) -> None:
    """Wait until init has reaped the last orphaned zombie of the group."""
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_members(pgid) == []


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


#: What the legacy Amp needs from its server besides the model: ``/api/internal?<method>``
#: bookkeeping answered ``{"ok": true, "result": ...}`` (getUserInfo reads ``features``), and its
#: thread-title side call (a haiku model forced to call ``set_title``).
AMP_STUBS = {"/api/internal": {"ok": True, "result": {"features": []}}}
AMP_TITLE_RULE = rule(tool("set_title", {"title": "A fake title"}), model_contains="haiku")


def amp_env(base_url: str, home: Path) -> dict[str, str]:
    """Environment for the legacy ``amp`` talking to the fake server at ``base_url``."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: os.environ[k] for k in ("PATH", "LANG", "TZ", "TMPDIR") if k in os.environ}
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "AMP_URL": base_url,
            "AMP_API_KEY": "fake-amp-key",
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    return env
