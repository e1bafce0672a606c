"""How CLI commands run: the asyncio entry point, Ctrl-C handling, store opening and CLI errors.

Commands raise :class:`CliError` (or a library ``ASMError``) and the entry point turns it into one
line on stderr and an exit code. Interrupts (SIGINT, SIGTERM) are routed to the running command so
a run can be cancelled cleanly instead of dying mid-write. The store backends are imported only
when a command opens a store; this module knows no command and no output format.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from agent_session_manager.store.urls import hide_password

if TYPE_CHECKING:
    from agent_session_manager.config import Settings
    from agent_session_manager.store.protocol import SessionStore

T = TypeVar("T")

#: Exit codes (scripts rely on them).
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """An error the CLI reports as ``error: <message>`` with ``exit_code``."""

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class UsageError(CliError):
    """Bad command-line input (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=EXIT_USAGE)


class Interrupted(CliError):
    """The command was stopped by Ctrl-C (SIGINT) or SIGTERM (exit code 130)."""

    def __init__(self, message: str = "interrupted") -> None:
        super().__init__(message, exit_code=EXIT_INTERRUPTED)


class _State:
    """Process-wide CLI settings set by the global options."""

    def __init__(self) -> None:
        self.debug = os.environ.get("ASM_DEBUG", "").lower() in {"1", "true", "yes", "on"}
        #: ``asm --store URL COMMAND``: the store for commands not given their own ``--store``.
        self.store_url: str | None = None
        #: ``asm --config FILE COMMAND``: the config file (else $ASM_CONFIG, else the default).
        self.config_file: str | None = None


state = _State()


def settings() -> Settings:
    """The effective configuration (``asm --config FILE`` or the default layers)."""
    from agent_session_manager.config import load_settings
    from agent_session_manager.core.errors import ValidationError

    try:
        return load_settings(state.config_file)
    except ValidationError as exc:
        raise UsageError(exc.message) from None


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a cancelled main task (an interrupt) becomes ``Interrupted``."""
    try:
        return asyncio.run(main)
    except asyncio.CancelledError:
        raise Interrupted() from None


@contextlib.contextmanager
def interrupts(on_interrupt: Callable[[signal.Signals], bool] | None = None) -> Iterator[None]:
    """Route SIGINT/SIGTERM to the running task while the block runs.

    The first signal calls ``on_interrupt(signal)``; if that returns ``True`` it has started a
    graceful stop (for example cancelling a run through the manager) and the task carries on to
    finish it. Otherwise, and on any further signal, the current task is cancelled. Where the
    event loop cannot take signal handlers (Windows), Python's default KeyboardInterrupt applies.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    count = 0

    def handle(sig: signal.Signals) -> None:
        nonlocal count
        count += 1
        if count == 1 and on_interrupt is not None and on_interrupt(sig):
            return
        if task is not None:
            task.cancel()

    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handle, sig)
        except (NotImplementedError, RuntimeError, ValueError):
            continue
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def chosen_store_url(url: str | None) -> str | None:
    """The store a command uses: its ``--store``, else the global ``--store``, else the
    configured ``store`` (``$ASM_STORE`` or the config file); ``None`` means the default file."""
    return url or state.store_url or settings().store


@contextlib.asynccontextmanager
async def open_cli_store(url: str | None) -> AsyncIterator[SessionStore]:
    """Open the store named by ``--store`` (``None``: the global ``--store``, else the
    configured ``store`` (``$ASM_STORE`` or the config file), else the default file)."""
    from agent_session_manager.core.errors import ValidationError
    from agent_session_manager.store.factory import open_store

    try:
        store = await open_store(chosen_store_url(url))
    except ValidationError as exc:
        raise UsageError(f"invalid store: {exc.message}") from None
    try:
        yield store
    finally:
        await store.close()


def describe_store(store: object, url: str | None) -> str:
    """Where ``store`` keeps its data, for summaries (``sqlite:////path/asm.db``, ``memory://``).

    A store with no file is named by the URL it was opened from, found as
    :func:`chosen_store_url` finds it (so a store set only in the config file is named too),
    password masked.
    """
    path = getattr(store, "path", None)
    if path is not None:
        return f"sqlite:///{path}"
    if type(store).__name__ == "InMemorySessionStore":
        return "memory:// (discarded on exit)"
    named = chosen_store_url(url)
    return hide_password(named) if named else type(store).__name__
