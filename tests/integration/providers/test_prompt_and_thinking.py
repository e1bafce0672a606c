"""Long prompts (over one command-line argument, Linux: 128 KiB) go through stdin; thinking
blocks reach both CLIs and come back as `thinking_received` events."""

from __future__ import annotations

from pathlib import Path

from agent_session_manager import (
    AdapterOptions,
    ClaudeAdapter,
    CodexAdapter,
    InMemorySessionStore,
    SessionManager,
)
from agent_session_manager.testing.cli_env import claude_env, codex_env
from agent_session_manager.testing.fake_model import FakeModelServer, rule, text, thinking

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


async def test_thinking_reaches_both_clis(
    claude_binary: str,
    codex_binary: str,
    fake_model_server: FakeModelServer,
    workspace: Path,
    tmp_path: Path,
) -> None:
    fake_model_server.set_script({"rules": [rule(thinking("Let me think."), text("Answer."))]})
    runs = [
        (ClaudeAdapter(claude_binary), claude_env(fake_model_server.url, tmp_path / "c")),
        (CodexAdapter(codex_binary), codex_env(fake_model_server.openai_base_url, tmp_path / "x")),
    ]
    for adapter, env in runs:
        manager = SessionManager(InMemorySessionStore(), adapter)
        options = AdapterOptions(cwd=str(workspace), env=env)
        result = await manager.run_once("think first", options=options)
        assert result.ok, result.error
        shown = [(e.type, e.data["content"]) for e in result.events if "content" in e.data]
        assert ("thinking_received", "Let me think.") in shown
        assert shown[-1] == ("message_received", "Answer.")
