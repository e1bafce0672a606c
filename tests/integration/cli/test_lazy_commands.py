"""The lazy command table in a fresh interpreter: ``asm --help`` imports no command module, and a
command imports only its own."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(*args: str) -> list[str]:
    code = (
        "import sys, contextlib, io\n"
        "from agent_session_manager.cli.app import run_cli\n"
        "quiet = io.StringIO()\n"
        "with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):\n"
        f"    run_cli({list(args)!r})\n"
        "print(' '.join(sorted(m for m in sys.modules\n"
        "      if m.startswith('agent_session_manager.cli.commands.'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_top_level_help_imports_no_command_module() -> None:
    assert _modules_after("--help") == []


def test_a_command_imports_only_its_own_module() -> None:
    assert _modules_after("run", "--help") == ["agent_session_manager.cli.commands.run"]
