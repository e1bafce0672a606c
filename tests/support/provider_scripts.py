"""Fake-model scripts and environments shared by the real-CLI provider tests."""

from __future__ import annotations

import os
from pathlib import Path

from agent_session_manager.testing.fake_model import rule, shell, text, tool

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
