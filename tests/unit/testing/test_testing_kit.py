"""The testing kit's CLI helpers (tests/integration/testing checks that the library never imports
the adapters eagerly)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from agent_session_manager.testing import fixtures
from agent_session_manager.testing.cli_env import claude_env, codex_env, find_cli


def test_missing_cli_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixtures, "find_cli", lambda *a, **k: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="claude"):
        fixtures.require_cli("claude", "ASM_CLAUDE_PATH", "@anthropic-ai/claude-code")


def test_missing_cli_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixtures, "find_cli", lambda *a, **k: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true requires the real-CLI tests"):
        fixtures.require_cli("codex", "ASM_CODEX_PATH", "@openai/codex")


def test_find_cli_prefers_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASM_CLAUDE_PATH", "/opt/claude")
    assert find_cli("claude", env_var="ASM_CLAUDE_PATH") == "/opt/claude"


def test_cli_environments_point_only_at_the_fake_server(tmp_path: Path) -> None:
    inherited = {"PATH": "/bin", "ANTHROPIC_API_KEY": "real-key", "OPENAI_API_KEY": "real"}
    claude = claude_env("http://127.0.0.1:9", tmp_path / "c", inherit=inherited)
    assert claude["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9"
    assert claude["ANTHROPIC_API_KEY"] != "real-key"
    assert claude["DISABLE_TELEMETRY"] == claude["DISABLE_AUTOUPDATER"] == "1"
    codex = codex_env("http://127.0.0.1:9/v1", tmp_path / "x", inherit=inherited)
    assert "OPENAI_API_KEY" not in codex
    config = tomllib.loads((Path(codex["CODEX_HOME"]) / "config.toml").read_text())
    assert config["model_providers"]["fake"]["base_url"] == "http://127.0.0.1:9/v1"
    assert config["features"] == {"plugins": False, "remote_plugin": False}
    assert config["analytics"] == {"enabled": False}
