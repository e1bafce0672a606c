"""The testing kit in a fresh interpreter: importing the library loads no adapter."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_library_loads_no_adapter() -> None:
    code = (
        "import sys, agent_session_manager\n"
        "adapters = ('.claude', '.codex', '._process', '._cli_adapter')\n"
        "bad = [m for m in sys.modules if m.endswith(adapters)"
        " or m.startswith(('aiohttp', 'claude_agent_sdk'))]\n"
        "print(bad)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
