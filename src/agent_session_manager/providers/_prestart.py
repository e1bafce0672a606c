"""Starting an agent CLI before its run exists, and the command lines that needs, stdlib only.

An agent CLI takes most of a short run to boot (``claude`` spends ~0.35 s in node before its
first request), while ``asm run`` spends ~0.2 s importing pydantic, the manager and a store
backend and opening the store. So ``asm run`` starts the CLI first (:func:`prestart`) and does
that work while it boots; the adapter then adopts the running process for the run whose
command line, working directory and environment are exactly the prestarted ones
(``CLIAdapterBase(prestarted=...)``). Whoever started it calls :meth:`PrestartedProcess.discard`
in a ``finally``: a process no run adopted has its whole group killed and reaped.

The process is started with ``os.posix_spawnp`` rather than ``subprocess`` (whose import alone
is ~10 ms that would come before the spawn), set up as ``CLIProcess.spawn`` sets up its children:
stdin ``/dev/null``, stdout and stderr pipes, a new session, SIGPIPE and SIGXFSZ back to their
defaults, no inherited descriptor beyond the three. Linux only (it lists ``/proc/self/fd``);
elsewhere nothing is prestarted and the run spawns as usual.

This module must stay importable without pydantic, asyncio or any other part of the library:
it holds the binary lookup and the ``claude`` command line (the adapters build theirs with the
same functions, so the two cannot drift) and knows nothing of runs, stores or events.
"""

from __future__ import annotations

import os
import signal
import time

#: ``typing.TYPE_CHECKING`` without importing ``typing`` (mypy and ruff treat the name alike).
TYPE_CHECKING = False
if TYPE_CHECKING:
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
    """A CLI started before its run: its pid (it leads its own session and process group), the
    read ends of its stdout and stderr pipes, and exactly what it was started with."""

    def __init__(
        self,
        pid: int,
        stdout: int,
        stderr: int,
        argv: Sequence[str],
        cwd: str | None,
        env: Mapping[str, str],
    ) -> None:
        self.pid = pid
        #: File descriptors of the read ends of its stdout and stderr pipes.
        self.stdout = stdout
        self.stderr = stderr
        self.argv = tuple(argv)
        self.cwd = cwd
        self.env = dict(env)
        #: ``time.monotonic()`` when it was started.
        self.started_at = time.monotonic()
        self.returncode: int | None = None
        self._claimed = False

    @property
    def claimed(self) -> bool:
        """True once a run adopted it or it was discarded (it can be used only once)."""
        return self._claimed

    def matches(self, argv: Sequence[str], cwd: str | None, env: Mapping[str, str]) -> bool:
        """Whether this is the process a run would start with ``argv``, ``cwd`` and ``env``."""
        return tuple(argv) == self.argv and cwd == self.cwd and dict(env) == self.env

    def claim(self) -> None:
        """Take the process over (once): the caller now owns its pipes, stopping and reaping."""
        if self._claimed:
            raise RuntimeError(f"prestarted process {self.pid} was already claimed")
        self._claimed = True

    def wait(self) -> int:
        """Block until it exits, reap it and return its exit code (``-N``: killed by signal N)."""
        if self.returncode is None:
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored): status unknown
                self.returncode = 0
            else:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def discard(self) -> None:
        """Kill the process group and reap the process, unless a run adopted it (idempotent)."""
        if self._claimed:
            return
        self._claimed = True
        import contextlib  # here, not at the top: every import there delays the spawn

        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self.wait()
        os.close(self.stdout)
        os.close(self.stderr)


def prestart(
    argv: Sequence[str], *, cwd: str | None, env: Mapping[str, str]
) -> PrestartedProcess | None:
    """Start ``argv`` the way ``CLIProcess.spawn`` would (prompt in ``argv``, stdin
    ``/dev/null``); ``None`` when it cannot be started here, so the run spawns it itself (and
    reports why it cannot)."""
    if not hasattr(os, "posix_spawnp") or not os.path.isdir("/proc/self/fd"):
        return None
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY)
    opened = (out_read, out_write, err_read, err_write, null)
    started = False
    try:
        if min(opened) < 3:  # a standard stream was closed: leave the odd case to subprocess
            return None
        actions: list[tuple[int, ...]] = [
            (os.POSIX_SPAWN_DUP2, null, 0),
            (os.POSIX_SPAWN_DUP2, out_write, 1),
            (os.POSIX_SPAWN_DUP2, err_write, 2),
        ]
        try:
            actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds()]
        except OSError:
            return None
        pid = _spawn_in(cwd, argv, env, actions)
        started = pid is not None
    finally:
        for fd in (out_write, err_write, null) if started else opened:
            os.close(fd)
    if pid is None:
        return None
    return PrestartedProcess(pid, out_read, err_read, argv, cwd, env)


def _spawn_in(
    cwd: str | None, argv: Sequence[str], env: Mapping[str, str], actions: list[tuple[int, ...]]
) -> int | None:
    """``posix_spawnp`` in ``cwd`` (the parent steps into it for the call: posix_spawn has no
    working-directory action before Python 3.13's helpers, and nothing else runs yet)."""
    try:
        back = os.open(".", os.O_RDONLY) if cwd is not None else None
    except OSError:
        return None
    try:
        if cwd is not None:
            os.chdir(cwd)
        return os.posix_spawnp(
            argv[0],
            list(argv),
            dict(env),
            file_actions=actions,
            setsid=True,
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        )
    except OSError:
        return None
    finally:
        if back is not None:
            os.fchdir(back)
            os.close(back)


def _inheritable_fds() -> list[int]:
    """Descriptors above 2 a child would inherit (``subprocess`` closes them: so must we)."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    found.append(fd)
            except OSError:  # the listing's own descriptor, already closed
                continue
    return found
