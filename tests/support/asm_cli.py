"""Run the real ``asm`` in a subprocess against a temporary store (the CLI tests' runner).

Every test gets its own SQLite file (``ASM_STORE``) and data folder (``XDG_DATA_HOME``), so the
tests never touch the real user data directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from agent_session_manager import SessionStore, open_store

T = TypeVar("T")

ASM = [sys.executable, "-m", "agent_session_manager.cli"]


@dataclass
class CLI:
    """Runs ``asm`` with a fixed environment; ``store_url`` is the test's SQLite store."""

    env: dict[str, str]
    store_url: str
    tmp_path: Path

    def run(self, *args: str, input: str | None = None, timeout: float = 30) -> Result:
        done = subprocess.run(
            [*ASM, *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.code == 0, result.stderr
        return json.loads(result.stdout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*ASM, *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def scenario(self, data: dict[str, Any], name: str = "scenario.json") -> str:
        path = self.tmp_path / name
        path.write_text(json.dumps(data))
        return str(path)

    def store(self, use: Callable[[SessionStore], Awaitable[T]]) -> T:
        """Open the test's store in this process and apply ``use`` to it."""

        async def main() -> T:
            async with await open_store(self.store_url) as store:
                return await use(store)

        return asyncio.run(main())


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def assert_one_error_line(self, *fragments: str) -> None:
        """stderr is a single ``error: …`` line (no traceback) containing ``fragments``."""
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        assert lines[0].startswith("error: "), self.stderr
        assert "Traceback" not in self.stderr
        for fragment in fragments:
            assert fragment in lines[0]


class LineReader:
    """Reads a process's stdout lines in a thread so tests can wait with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        stream = process.stdout

        def pump() -> None:
            for line in stream:
                self._lines.put(line)
            self._lines.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 20) -> str:
        """The first line (from now on) matching ``predicate``; fail after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching line within {timeout}s; saw {self.seen!r}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"output ended without a matching line; saw {self.seen!r}")
            self.seen.append(line)
            if predicate(line):
                return line

    def rest(self, timeout: float = 20) -> list[str]:
        """Every remaining line until the stream closes."""
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if line is None:
                return lines
            self.seen.append(line)
            lines.append(line)


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASM_", "FORCE_COLOR"))}
    env.update(
        {
            "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
            "NO_COLOR": "1",
            "COLUMNS": "200",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def make_cli(tmp_path: Path) -> CLI:
    """A CLI runner whose store is ``<tmp_path>/asm.db``."""
    store_url = f"sqlite:///{tmp_path}/asm.db"
    env = base_env(tmp_path)
    env["ASM_STORE"] = store_url
    return CLI(env, store_url, tmp_path)


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]
