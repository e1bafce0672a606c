"""A fake CLI that prints a malformed line or dies mid-stream: the run fails with the cause and
keeps the events that came before (for both CLI adapters, through the shared subprocess module)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agent_session_manager import (
    ClaudeAdapter,
    CodexAdapter,
    InMemorySessionStore,
    RunStatus,
    SessionManager,
)

CLAUDE_LINES = [
    {"type": "system", "subtype": "init", "session_id": "sess-1", "model": "m-1", "tools": []},
    {
        "type": "assistant",
        "message": {
            "id": "msg_1",
            "model": "m-1",
            "content": [{"type": "text", "text": "partial answer"}],
        },
    },
]
CODEX_LINES = [
    {"type": "thread.started", "thread_id": "thread-1"},
    {"type": "turn.started"},
    {"type": "item.completed", "item": {"id": "item_0", "type": "agent_message", "text": "hi"}},
]


def _fake_cli(tmp_path: Path, lines: list[dict[str, object]], ending: str) -> str:
    path = tmp_path / "fake-cli"
    printed = "\n".join(json.dumps(line) for line in lines)
    path.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.stdout.write({printed!r} + '\\n')\n"
        "sys.stdout.flush()\n"
        f"{ending}\n"
    )
    path.chmod(0o755)
    return str(path)


MALFORMED = "sys.stdout.write('{not json\\n'); sys.stdout.flush()"
DIES = "sys.stderr.write('fatal: the agent crashed\\n'); sys.exit(3)"


@pytest.mark.parametrize(
    ("make_adapter", "lines", "kept"),
    [
        (ClaudeAdapter, CLAUDE_LINES, "partial answer"),
        (CodexAdapter, CODEX_LINES, "hi"),
    ],
    ids=["claude", "codex"],
)
@pytest.mark.parametrize(
    ("ending", "cause"),
    [(MALFORMED, "malformed output line"), (DIES, "exited with code 3")],
    ids=["malformed", "dies"],
)
async def test_broken_cli_fails_the_run_and_keeps_earlier_events(
    tmp_path: Path,
    make_adapter: type[ClaudeAdapter] | type[CodexAdapter],
    lines: list[dict[str, object]],
    kept: str,
    ending: str,
    cause: str,
) -> None:
    adapter = make_adapter(_fake_cli(tmp_path, lines, ending))
    manager = SessionManager(InMemorySessionStore(), adapter, default_timeout=30)

    result = await manager.run_once("hello")

    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.code == "provider_protocol_error"
    assert cause in result.error.message
    if ending == DIES:
        assert "the agent crashed" in result.error.message
    types = [e.type for e in result.events]
    assert types == ["message_sent", "run_started", "message_received", "run_failed"]
    assert result.events[2].data["content"] == kept
    assert result.provider_session_id in ("sess-1", "thread-1")


async def test_missing_binary_is_a_clear_unavailable_error(tmp_path: Path) -> None:
    manager = SessionManager(
        InMemorySessionStore(), ClaudeAdapter(str(tmp_path / "no-such-claude")), default_timeout=30
    )
    result = await manager.run_once("hello")
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.code == "provider_unavailable"
    assert result.error.retryable is False
    assert "not found" in result.error.message


async def test_a_cli_lingering_after_its_result_does_not_hold_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_session_manager.providers import _cli_adapter

    monkeypatch.setattr(_cli_adapter, "EXIT_GRACE_S", 0.3)
    result_line = {"type": "result", "subtype": "success", "is_error": False, "result": "done"}
    # Prints its result, then keeps running with stdout open (like a leftover tool process).
    cli = _fake_cli(tmp_path, [*CLAUDE_LINES, result_line], "import time; time.sleep(60)")
    manager = SessionManager(InMemorySessionStore(), ClaudeAdapter(cli), default_timeout=30)

    result = await manager.run_once("hello")

    assert result.ok, result.error
    assert result.content == "done"
