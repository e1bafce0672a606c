"""Starting an agent CLI before its run exists, and the command lines that needs, stdlib only.

An agent CLI takes most of a short run to boot (``claude`` spends ~0.35 s in node before its
first request), while ``asm run`` spends ~0.2 s importing pydantic, the manager and a store
backend and opening the store. So ``asm run`` starts the CLI first (:func:`prestart`) and does
that work while it boots; the adapter then adopts the running process for the run whose
command line, working directory and environment are exactly the prestarted ones
(``CLIAdapterBase(prestarted=...)``). Whoever started it calls :meth:`PrestartedProcess.discard`
in a ``finally``: a process no run adopted has its whole group killed and reaped.

This module must stay importable without pydantic, asyncio or any other part of the library:
it holds the binary lookup and the ``claude`` command line (the adapters build theirs with the
same functions, so the two cannot drift) and knows nothing of runs, stores or events.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence

#: Longest prompt passed as a command-line argument (Linux caps one argument at 128 KiB); longer
#: prompts go through stdin.
MAX_ARG_BYTES = 100_000

#: ``PermissionMode`` value -> the ``claude`` flags that implement it (see docs/providers.md).
CLAUDE_PERMISSION_FLAGS: dict[str, tuple[str, ...]] = {
    "default": ("--permission-mode", "default"),
    "accept_edits": ("--permission-mode", "acceptEdits"),
    "plan": ("--permission-mode", "plan"),
    "full_auto": ("--permission-mode", "bypassPermissions"),
    "dangerously_skip_permissions": ("--dangerously-skip-permissions",),
}


def locate_binary(
    explicit: str | None, *, name: str, env_var: str, env: Mapping[str, str] | None = None
) -> str | None:
    """The CLI to run: ``explicit``, else ``$env_var`` (from ``env`` over the process
    environment), else ``name`` on ``PATH``; ``None`` when there is none."""
    if explicit:
        return explicit
    source = {**os.environ, **(env or {})}
    configured = source.get(env_var)
    if configured:
        return configured
    import shutil  # only here: ~3 ms that `asm run` would otherwise spend before the spawn

    return shutil.which(name, path=source.get("PATH"))


def claude_argv(
    binary: str,
    *,
    permission_mode: str = "default",
    model: str | None = None,
    max_turns: int | None = None,
    system_prompt: str | None = None,
    allowed_tools: Sequence[str] = (),
    denied_tools: Sequence[str] = (),
    partial_messages: bool = True,
    append_system_prompt: str | None = None,
    resume: str | None = None,
    flags: Iterable[str] = (),
    prompt: str | None = None,
) -> list[str]:
    """The ``claude`` print-mode command line (``prompt=None``: claude reads it from stdin).
    ``flags`` are passthrough arguments placed before the prompt."""
    argv = [binary, "-p", "--output-format", "stream-json", "--verbose"]
    if partial_messages:
        argv.append("--include-partial-messages")
    argv += CLAUDE_PERMISSION_FLAGS[permission_mode]
    if model:
        argv += ["--model", model]
    if max_turns is not None:
        argv += ["--max-turns", str(max_turns)]
    if system_prompt is not None:
        argv += ["--system-prompt", system_prompt]
    if allowed_tools:
        argv += ["--allowedTools", ",".join(allowed_tools)]
    if denied_tools:
        argv += ["--disallowedTools", ",".join(denied_tools)]
    if append_system_prompt is not None:
        argv += ["--append-system-prompt", append_system_prompt]
    if resume:
        argv += ["--resume", resume]
    argv += flags
    if prompt is not None:
        argv += ["--", prompt]
    return argv


class PrestartedProcess:
    """A CLI started before its run: the ``Popen`` (stdin ``/dev/null``, stdout and stderr
    pipes, its own session and process group) and exactly what it was started with."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        argv: Sequence[str],
        cwd: str | None,
        env: Mapping[str, str],
    ) -> None:
        self.popen = popen
        self.argv = tuple(argv)
        self.cwd = cwd
        self.env = dict(env)
        self.pid = popen.pid
        #: ``time.monotonic()`` when it was started.
        self.started_at = time.monotonic()
        self._claimed = False

    @property
    def claimed(self) -> bool:
        """True once a run adopted it or it was discarded (it can be used only once)."""
        return self._claimed

    def matches(self, argv: Sequence[str], cwd: str | None, env: Mapping[str, str]) -> bool:
        """Whether this is the process a run would start with ``argv``, ``cwd`` and ``env``."""
        return tuple(argv) == self.argv and cwd == self.cwd and dict(env) == self.env

    def claim(self) -> subprocess.Popen[bytes]:
        """Take the process over (once); the caller now owns stopping and reaping it."""
        if self._claimed:
            raise RuntimeError(f"prestarted process {self.pid} was already claimed")
        self._claimed = True
        return self.popen

    def discard(self) -> None:
        """Kill the process group and reap the process, unless a run adopted it (idempotent)."""
        if self._claimed:
            return
        self._claimed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait()
        for pipe in (self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                pipe.close()


def prestart(
    argv: Sequence[str], *, cwd: str | None, env: Mapping[str, str]
) -> PrestartedProcess | None:
    """Start ``argv`` the way ``CLIProcess.spawn`` would (prompt in ``argv``, stdin
    ``/dev/null``); ``None`` when it cannot be started, so the run's own spawn reports why."""
    try:
        popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError:
        return None
    return PrestartedProcess(popen, argv, cwd, env)
