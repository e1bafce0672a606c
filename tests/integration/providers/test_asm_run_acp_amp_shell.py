"""``asm run --provider acp|amp|shell`` end to end: the real agents against the fake model server
(claude-code-acp given with --acp-command, the legacy amp found through ASM_AMP_PATH) and a real
shell command, with the provider environment passed through."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from agent_session_manager.testing.cli_env import claude_env
from agent_session_manager.testing.fake_model import FakeModelServer, rule, text
from tests.support.provider_scripts import AMP_STUBS, AMP_TITLE_RULE, amp_env

ASM = [sys.executable, "-m", "agent_session_manager.cli"]


def _asm(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ASM, *args], env=env, capture_output=True, text=True, timeout=90, check=False
    )


def _store_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**env, "ASM_STORE": f"sqlite:///{tmp_path / 'asm.db'}"}


def _events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_asm_run_provider_acp(
    claude_acp_binary: str,
    claude_binary: str,
    fake_model_server: FakeModelServer,
    workspace: Path,
    tmp_path: Path,
) -> None:
    fake_model_server.set_script({"rules": [rule(text("Hi over ACP."), user_contains="greet")]})
    env = _store_env(claude_env(fake_model_server.url, tmp_path / "home"), tmp_path)
    env["CLAUDE_CODE_EXECUTABLE"] = claude_binary

    done = _asm(
        env,
        "run",
        "--provider",
        "acp",
        "--acp-command",
        f"{claude_acp_binary}",
        "--cwd",
        str(workspace),
        "-f",
        "jsonl",
        "greet me",
    )

    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    received = [e["data"]["content"] for e in events if e["type"] == "message_received"]
    assert received == ["Hi over ACP."]
    started = next(e for e in events if e["type"] == "run_started")
    assert started["data"]["provider"] == "acp"
    assert started["data"]["provider_session_id"]
    assert len(fake_model_server.model_requests("anthropic")) == 1


def test_asm_run_provider_amp(
    amp_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script(
        {"rules": [AMP_TITLE_RULE, rule(text("Hi from amp."))], "stubs": AMP_STUBS}
    )
    env = _store_env(amp_env(fake_model_server.url, tmp_path / "home"), tmp_path)
    env["ASM_AMP_PATH"] = amp_binary

    done = _asm(env, "run", "--provider", "amp", "--cwd", str(workspace), "-f", "jsonl", "hello")

    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    received = [e["data"]["content"] for e in events if e["type"] == "message_received"]
    assert received == ["Hi from amp."]
    started = next(e for e in events if e["type"] == "run_started")
    assert started["data"]["provider_session_id"].startswith("T-")


def test_asm_run_provider_shell(workspace: Path, tmp_path: Path) -> None:
    env = _store_env({"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, tmp_path)

    done = _asm(env, "run", "--provider", "shell", "--cwd", str(workspace), "-f", "jsonl", "pwd")
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    received = [e["data"]["content"] for e in events if e["type"] == "message_received"]
    assert received == [f"{workspace}\n"]

    failed = _asm(env, "run", "--provider", "shell", "echo broken >&2; exit 4")
    assert failed.returncode == 1
    assert "exited with code 4" in failed.stderr


def test_acp_command_usage_errors(tmp_path: Path) -> None:
    env = _store_env({"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, tmp_path)
    missing = _asm(env, "run", "--provider", "acp", "hello")
    assert missing.returncode == 2
    assert "--acp-command" in missing.stderr
    stray = _asm(env, "run", "--provider", "shell", "--acp-command", "x", "true")
    assert stray.returncode == 2
    assert "--acp-command only applies to --provider acp" in stray.stderr
