"""Prompts longer than one command-line argument may be (Linux: 128 KiB) go through stdin."""

from __future__ import annotations

from pathlib import Path

from agent_session_manager import AdapterOptions, InMemorySessionStore, SessionManager
from agent_session_manager.providers.claude import ClaudeAdapter
from agent_session_manager.providers.codex import CodexAdapter
from agent_session_manager.testing.cli_env import claude_env, codex_env
from agent_session_manager.testing.fake_model import FakeModelServer, rule, text

PROMPT = "LONGPROMPT " + "word " * 40_000  # ~200 KB


async def test_claude_long_prompt(
    claude_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script({"rules": [rule(text("got it"), user_contains="LONGPROMPT")]})
    options = AdapterOptions(cwd=str(workspace), env=claude_env(fake_model_server.url, tmp_path))
    manager = SessionManager(InMemorySessionStore(), ClaudeAdapter(claude_binary))
    result = await manager.run_once(PROMPT, options=options)
    assert result.ok, result.error
    assert result.content == "got it"


async def test_codex_long_prompt(
    codex_binary: str, fake_model_server: FakeModelServer, workspace: Path, tmp_path: Path
) -> None:
    fake_model_server.set_script({"rules": [rule(text("got it"), user_contains="LONGPROMPT")]})
    env = codex_env(fake_model_server.openai_base_url, tmp_path)
    options = AdapterOptions(cwd=str(workspace), env=env)
    manager = SessionManager(InMemorySessionStore(), CodexAdapter(codex_binary))
    result = await manager.run_once(PROMPT, options=options)
    assert result.ok, result.error
    assert result.content == "got it"
