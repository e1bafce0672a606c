"""``asm run`` in a real pseudo-terminal: live progress, and Ctrl-C cancelling the run cleanly."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time

from agent_session_manager import RunStatus, SessionStore
from tests.support.asm_cli import ASM, CLI


class Terminal:
    """A child process on a pseudo-terminal (its controlling terminal), read as bytes."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: its stdin/stdout/stderr are the terminal
            os.execve(argv[0], argv, env)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.output = b""

    def read_until(self, needle: bytes, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{needle!r} not shown; screen so far: {self.output!r}"
            if not self._read(remaining):
                raise AssertionError(f"terminal closed before {needle!r}: {self.output!r}")

    def type(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._read(0.2):
                break
        for _ in range(200):
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        raise AssertionError("the process did not exit")

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.output += chunk
        return bool(chunk)


def test_progress_and_ctrl_c_cancel_in_a_terminal(cli: CLI) -> None:
    scenario = cli.scenario(
        {
            "steps": [
                {"text": "Working on it", "chunks": 2},
                {"usage": {"input_tokens": 1234, "output_tokens": 56}},
                {"delay": 60},
            ]
        }
    )
    env = {**cli.env, "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    env.pop("COLUMNS", None)
    argv = [sys.executable, *ASM[1:], "run", "--scenario", scenario, "Do the work"]
    terminal = Terminal(argv, env)
    terminal.read_until(b"Working on it")
    terminal.read_until(b"1,234/56 tokens")  # the live status line
    assert b"Ctrl-C cancels" in terminal.output
    terminal.type(b"\x03")  # Ctrl-C, turned into SIGINT by the terminal
    assert terminal.wait() == 130
    assert b"Traceback" not in terminal.output
    assert b"cancelled" in terminal.output

    async def runs(store: SessionStore) -> list[RunStatus]:
        sessions = await store.list_sessions()
        return [run.status for run in await store.list_runs(sessions[0].id)]

    assert cli.store(runs) == [RunStatus.CANCELLED]
