"""The ``asm`` command-line interface.

:func:`main` is the console-script entry point; the typer application lives in
:mod:`agent_session_manager.cli.app` and is imported only when the command runs. This package
must not import store backends, the manager or any provider at import time.
"""

from __future__ import annotations

import os
import sys

__all__ = ["main"]

#: ``typing.TYPE_CHECKING`` without importing ``typing``: this module runs before the spawn.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``asm`` and exit with its status code.

    ``asm run --provider claude`` starts the agent first, before typer and the library are
    imported, so they load while the agent boots (see :mod:`agent_session_manager.cli._early`).
    """
    from agent_session_manager.cli import _early

    args = list(sys.argv[1:] if argv is None else argv)
    started = _early.start(args)
    try:
        from agent_session_manager.cli.app import run_cli

        code = run_cli(args)
    finally:
        if started is not None:
            started.discard()  # no run adopted it: kill its process group and reap it
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader closed the pipe: silence the interpreter's own flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = code or 1
    _exit(code)


def _exit(code: int) -> None:
    """End the process as ``sys.exit`` would, minus the interpreter's teardown.

    Freeing every module and object at exit takes ~60 ms once pydantic, typer and a store are
    loaded (a third of a short ``asm run``), and nothing in ``asm`` needs it: what a normal
    exit does that matters (joining non-daemon threads, atexit handlers such as logging's or an
    OpenTelemetry SDK's flush, flushing stdio) happens here, then ``os._exit``.
    """
    import atexit
    import contextlib
    import threading

    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
