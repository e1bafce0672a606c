"""The ``asm`` command-line interface.

:func:`main` is the console-script entry point; the typer application lives in
:mod:`agent_session_manager.cli.app` and is imported only when the command runs. This package
must not import store backends, the manager or any provider at import time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``asm`` and exit with its status code."""
    from agent_session_manager.cli.app import run_cli

    code = run_cli(argv)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader closed the pipe: silence the interpreter's own flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = code or 1
    sys.exit(code)
