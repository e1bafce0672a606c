"""``asm run --provider claude|codex`` end to end: the real CLI against the fake model server,
found through ASM_CLAUDE_PATH / ASM_CODEX_PATH, with the provider environment passed through."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent_session_manager.testing.cli_env import claude_env, codex_env
from agent_session_manager.testing.fake_model import FakeModelServer, rule, text

ASM = [sys.executable, "-m", "agent_session_manager.cli"]


def _asm(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ASM, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _store_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**env, "ASM_STORE": f"sqlite:///{tmp_path / 'asm.db'}"}


def test_asm_run_provider_claude(
    claude_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script({"rules": [rule(text("Hi from asm."), user_contains="greet")]})
    env = _store_env(claude_env(fake_model_server.url, tmp_path / "home"), tmp_path)
    env["ASM_CLAUDE_PATH"] = claude_binary

    done = _asm(
        env, "run", "--provider", "claude", "--cwd", str(workspace), "-f", "jsonl", "greet me"
    )

    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[0] == "session_created"
    assert "run_started" in types
    assert types[-1] in ("run_completed", "session_completed")
    received = [e["data"]["content"] for e in events if e["type"] == "message_received"]
    assert received == ["Hi from asm."]
    assert all(e["provider"] in ("claude", None) for e in events if e["run_id"])
    assert "completed" in done.stderr
    # ANTHROPIC_BASE_URL reached the CLI: the model call came to the fake server.
    assert len(fake_model_server.model_requests("anthropic")) == 1


def test_asm_run_provider_codex(
    codex_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script({"rules": [rule(text("Hi from codex."))]})
    env = _store_env(codex_env(fake_model_server.openai_base_url, tmp_path / "home"), tmp_path)
    env["ASM_CODEX_PATH"] = codex_binary

    done = _asm(env, "run", "--provider", "codex", "--cwd", str(workspace), "-f", "jsonl", "hello")

    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    received = [e["data"]["content"] for e in events if e["type"] == "message_received"]
    assert received == ["Hi from codex."]
    assert len(fake_model_server.model_requests("openai")) == 1


def test_asm_run_reports_a_missing_cli(tmp_path: Path) -> None:
    env = _store_env({"PATH": "/nonexistent", "HOME": str(tmp_path)}, tmp_path)
    done = _asm(env, "run", "--provider", "claude", "hello")
    assert done.returncode == 1
    assert "claude CLI was not found" in done.stderr


def test_asm_run_session_resumes_claude_across_processes(
    claude_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script({"rules": [rule(text("noted"))]})
    env = _store_env(claude_env(fake_model_server.url, tmp_path / "home"), tmp_path)
    env["ASM_CLAUDE_PATH"] = claude_binary
    created = _asm(env, "sessions", "create")
    assert created.returncode == 0, created.stderr
    session = created.stdout.strip()

    for prompt in ("remember the word heron", "which word?"):
        done = _asm(
            env,
            "run",
            "--provider",
            "claude",
            "--session",
            session,
            "--cwd",
            str(workspace),
            prompt,
        )
        assert done.returncode == 0, done.stderr

    second = fake_model_server.model_requests()[-1].body["messages"]
    assert "remember the word heron" in json.dumps(second)


def test_the_pinned_cli_versions_are_the_ones_tested(claude_binary: str, codex_binary: str) -> None:
    from agent_session_manager.testing.cli_env import CLAUDE_CODE_VERSION, CODEX_VERSION

    claude = subprocess.run(
        [claude_binary, "--version"], capture_output=True, text=True, check=True
    )
    codex = subprocess.run([codex_binary, "--version"], capture_output=True, text=True, check=True)
    assert CLAUDE_CODE_VERSION in claude.stdout
    assert CODEX_VERSION in codex.stdout
