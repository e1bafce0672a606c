"""A fake ``amp`` that prints a malformed line or dies mid-stream: the run fails with the cause
and keeps the events that came before (the Amp adapter goes through the shared subprocess
module, like the Claude Code and Codex adapters)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agent_session_manager import AmpAdapter, InMemorySessionStore, RunStatus, SessionManager

AMP_LINES = [
    {"type": "system", "subtype": "init", "session_id": "T-1", "tools": ["Bash"]},
    {
        "type": "assistant",
        "message": {"content": [{"type": "text", "text": "partial answer"}], "stop_reason": None},
    },
]
MALFORMED = "sys.stdout.write('{not json\\n'); sys.stdout.flush()"
DIES = "sys.stderr.write('fatal: amp crashed\\n'); sys.exit(3)"


@pytest.mark.parametrize(
    ("ending", "cause"),
    [(MALFORMED, "malformed output line"), (DIES, "exited with code 3")],
    ids=["malformed", "dies"],
)
async def test_broken_amp_fails_the_run_and_keeps_earlier_events(
    tmp_path: Path, ending: str, cause: str
) -> None:
    cli = tmp_path / "fake-amp"
    printed = "\n".join(json.dumps(line) for line in AMP_LINES)
    cli.write_text(
        f"#!{sys.executable}\nimport sys\nsys.stdout.write({printed!r} + '\\n')\n"
        f"sys.stdout.flush()\n{ending}\n"
    )
    cli.chmod(0o755)
    manager = SessionManager(InMemorySessionStore(), AmpAdapter(str(cli)), default_timeout=30)

    result = await manager.run_once("hello")

    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.code == "provider_protocol_error"
    assert cause in result.error.message
    if ending == DIES:
        assert "amp crashed" in result.error.message
    types = [e.type for e in result.events]
    assert types == [
        "message_sent",
        "run_started",
        "message_received",
        "turn_completed",
        "run_failed",
    ]
    assert result.events[2].data["content"] == "partial answer"
    assert result.provider_session_id == "T-1"
