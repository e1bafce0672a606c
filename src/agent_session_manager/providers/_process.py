"""Running an agent CLI as a child process: spawn, read JSON lines, stop the whole process group.

Every CLI-based adapter (Claude Code, Codex, Amp, ACP agents and the shell provider) goes through
:class:`CLIProcess`: the CLI starts in its own session and process group (``start_new_session``)
so that stopping it also stops every tool process it spawned; stdout is read line by line without
blocking the event loop and decoded as JSON objects; stderr is drained continuously into a bounded
tail (kept for error messages, never allowed to fill the pipe); :meth:`CLIProcess.close` sends
SIGTERM to the group, SIGKILL after a short grace, and reaps the child, so no zombie or orphan
survives a cancel. A CLI started early by :mod:`._prestart` is adopted and then treated the same.
A line that is not a JSON object becomes a ``ProviderError`` (``provider_protocol_error``) naming
the cause. This module knows processes and JSON lines; it knows no event, no particular CLI's
output format, no adapter and no session manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Protocol

import orjson

from agent_session_manager.core.errors import ProviderError
from agent_session_manager.providers._prestart import PrestartedProcess

logger = logging.getLogger(__name__)

#: Longest stdout line accepted (tool outputs can be large; a longer line is a protocol error).
MAX_LINE_BYTES = 64 * 1024 * 1024
#: How much of stderr is kept for error messages.
STDERR_TAIL_BYTES = 16 * 1024
#: Seconds between SIGTERM and SIGKILL when stopping a CLI.
TERM_GRACE_S = 0.8
#: Whole stop budget (the SPEC allows 2 s): after the kill, :meth:`CLIProcess.close` waits up to
#: this long from its start for every group member to be gone, zombies included (tool processes
#: orphaned by the CLI's death are reaped by init, which may take a moment).
STOP_BUDGET_S = 1.9


class CLINotFound(ProviderError):
    """The CLI binary does not exist or cannot be executed."""

    default_code = "provider_unavailable"


class ChildProcess(Protocol):
    """What :class:`CLIProcess` uses of a child: ``asyncio.subprocess.Process`` or an adopted
    ``Popen`` (:class:`AdoptedProcess`)."""

    @property
    def pid(self) -> int: ...
    @property
    def stdin(self) -> asyncio.StreamWriter | None: ...
    @property
    def stdout(self) -> asyncio.StreamReader | None: ...
    @property
    def stderr(self) -> asyncio.StreamReader | None: ...
    @property
    def returncode(self) -> int | None: ...
    async def wait(self) -> int: ...


class AdoptedProcess:
    """A CLI started outside the event loop (by :func:`prestart`), driven like an
    ``asyncio.subprocess.Process``: its stdout and stderr pipes become stream readers and its
    exit is watched through a pidfd (a waiting thread where pidfds are missing)."""

    stdin: asyncio.StreamWriter | None = None

    def __init__(
        self,
        prestarted: PrestartedProcess,
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
        transports: Sequence[asyncio.BaseTransport],
        exited: asyncio.Future[int],
    ) -> None:
        self.prestarted = prestarted
        self.pid = prestarted.pid
        self.stdout = stdout
        self.stderr = stderr
        self._transports = tuple(transports)
        self._exited = exited

    @classmethod
    async def adopt(cls, prestarted: PrestartedProcess) -> AdoptedProcess:
        """Drive a claimed ``prestarted`` process (its pipes now belong to the loop)."""
        loop = asyncio.get_running_loop()
        pipes = [os.fdopen(fd, "rb", buffering=0) for fd in (prestarted.stdout, prestarted.stderr)]
        transports: list[asyncio.BaseTransport] = []
        readers: list[asyncio.StreamReader] = []
        try:
            for pipe in pipes:
                reader = asyncio.StreamReader(limit=MAX_LINE_BYTES, loop=loop)
                protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
                pipe_transport, _ = await loop.connect_read_pipe(_factory(protocol), pipe)
                transports.append(pipe_transport)
                readers.append(reader)
            exited = _watch_exit(prestarted, loop)
        except BaseException:
            for transport in transports:
                transport.close()
            for pipe in pipes[len(transports) :]:
                pipe.close()
            raise
        return cls(prestarted, readers[0], readers[1], transports, exited)

    @property
    def returncode(self) -> int | None:
        return self.prestarted.returncode

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def close_pipes(self) -> None:
        for transport in self._transports:
            transport.close()


def _factory(protocol: asyncio.StreamReaderProtocol) -> Callable[[], asyncio.StreamReaderProtocol]:
    return lambda: protocol


def _watch_exit(
    prestarted: PrestartedProcess, loop: asyncio.AbstractEventLoop
) -> asyncio.Future[int]:
    """A future set to the process's exit code once it has exited and been reaped."""
    exited: asyncio.Future[int] = loop.create_future()
    try:
        pidfd = os.pidfd_open(prestarted.pid)
    except (AttributeError, OSError):  # no pidfds (Linux before 5.3)
        waiting = loop.run_in_executor(None, prestarted.wait)

        def waited(done: asyncio.Future[int]) -> None:
            if not exited.done():
                exited.set_result(done.result())

        waiting.add_done_callback(waited)
        return exited

    def reap() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        if not exited.done():
            exited.set_result(prestarted.wait())  # it has exited: the wait reaps it at once

    loop.add_reader(pidfd, reap)
    return exited


class CLIProcess:
    """One running CLI. Create with :meth:`spawn` (or :meth:`adopt`); always :meth:`close`
    (``async with`` does)."""

    def __init__(self, argv: Sequence[str], process: ChildProcess) -> None:
        self.argv = tuple(argv)
        self.process = process
        self.pid = process.pid
        #: The process group id (equal to the pid: the CLI leads its own group).
        self.pgid = process.pid
        self._stderr: deque[bytes] = deque()
        self._stderr_size = 0
        self._stderr_task = asyncio.create_task(self._drain_stderr(), name=f"cli-stderr-{self.pid}")
        self._close_task: asyncio.Task[None] | None = None
        self.lines_read = 0

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        interactive: bool = False,
    ) -> CLIProcess:
        """Start ``argv`` in a new process group. ``stdin`` bytes are written then closed
        (``None``: stdin is ``/dev/null``, so CLIs never wait for input); ``interactive`` keeps
        stdin open as a pipe (``process.stdin``) for protocols that talk both ways (ACP)."""
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=(
                    asyncio.subprocess.PIPE
                    if stdin is not None or interactive
                    else asyncio.subprocess.DEVNULL
                ),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                limit=MAX_LINE_BYTES,
            )
        except FileNotFoundError as exc:
            if cwd is not None and not os.path.isdir(cwd):  # noqa: ASYNC240 (error path only)
                raise ProviderError(
                    f"working directory {cwd!r} does not exist",
                    code="provider_error",
                    details={"cwd": cwd},
                ) from exc
            raise CLINotFound(
                f"cannot run {argv[0]!r}: not found",
                details={"argv0": argv[0], "cwd": cwd},
                retryable=False,
            ) from exc
        except PermissionError as exc:
            raise CLINotFound(
                f"cannot run {argv[0]!r}: {exc.strerror}",
                details={"argv0": argv[0]},
                retryable=False,
            ) from exc
        child = cls(argv, process)
        if stdin is not None and process.stdin is not None:
            try:
                process.stdin.write(stdin)
                await process.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                process.stdin.close()
        logger.debug("spawned %s (pid %d)", argv[0], process.pid)
        return child

    @classmethod
    async def adopt(cls, prestarted: PrestartedProcess) -> CLIProcess:
        """Take over a CLI :func:`prestart` started instead of spawning one; from here on it is
        stopped and reaped like a spawned one."""
        prestarted.claim()
        try:
            process = await AdoptedProcess.adopt(prestarted)
        except BaseException:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(prestarted.pid, signal.SIGKILL)
            await asyncio.to_thread(prestarted.wait)
            raise
        logger.debug(
            "adopted %s (pid %d, started %.0f ms earlier)",
            prestarted.argv[0],
            prestarted.pid,
            (time.monotonic() - prestarted.started_at) * 1000,
        )
        return cls(prestarted.argv, process)

    async def __aenter__(self) -> CLIProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- output ------------------------------------------------------------------------------
    async def json_lines(self) -> AsyncIterator[dict[str, Any]]:
        """Each stdout line decoded as a JSON object, until EOF. Blank lines are skipped; a line
        that is not a JSON object raises ``ProviderError`` (``provider_protocol_error``)."""
        stdout = self.process.stdout
        assert stdout is not None
        while True:
            try:
                raw = await stdout.readline()
            except (ValueError, asyncio.LimitOverrunError) as exc:
                raise self.protocol_error(
                    f"stdout line longer than {MAX_LINE_BYTES} bytes"
                ) from exc
            if not raw:
                return
            line = raw.strip()
            if not line:
                continue
            self.lines_read += 1
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise self.protocol_error(
                    f"malformed output line {self.lines_read}: {exc}", line=line
                ) from exc
            if not isinstance(value, dict):
                raise self.protocol_error(
                    f"output line {self.lines_read} is not a JSON object", line=line
                )
            yield value

    async def wait(self) -> int:
        """Wait for the CLI to exit (and stderr to be drained); return its exit code."""
        code = await self.process.wait()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(self._stderr_task), 1.0)
        return code

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    @property
    def stderr_tail(self) -> str:
        """The last :data:`STDERR_TAIL_BYTES` of stderr, decoded."""
        return b"".join(self._stderr).decode("utf-8", "replace")

    async def _drain_stderr(self) -> None:
        stream = self.process.stderr
        if stream is None:
            return
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                return
            self._stderr.append(chunk)
            self._stderr_size += len(chunk)
            while self._stderr_size > STDERR_TAIL_BYTES and len(self._stderr) > 1:
                self._stderr_size -= len(self._stderr.popleft())
            if self._stderr_size > STDERR_TAIL_BYTES:
                only = self._stderr.pop()[-STDERR_TAIL_BYTES:]
                self._stderr.append(only)
                self._stderr_size = len(only)

    # -- errors ------------------------------------------------------------------------------
    def protocol_error(self, message: str, *, line: bytes | None = None) -> ProviderError:
        """A ``provider_protocol_error`` with the CLI, the offending line and stderr's tail."""
        details: dict[str, Any] = {"cli": os.path.basename(self.argv[0])}
        if line is not None:
            details["line"] = line[:500].decode("utf-8", "replace")
        if self.returncode is not None:
            details["exit_code"] = self.returncode
        stderr = self.stderr_tail.strip()
        if stderr:
            details["stderr"] = stderr[-2000:]
        return ProviderError(
            f"{details['cli']}: {message}", code="provider_protocol_error", details=details
        )

    async def exit_error(self, what: str = "before reporting a result") -> ProviderError:
        """The error for a CLI whose output ended early: waits for its exit code first."""
        try:
            code = await asyncio.wait_for(self.wait(), 5.0)
        except TimeoutError:
            code = None
        stderr = self.stderr_tail.strip().splitlines()
        cause = f": {stderr[-1]}" if stderr else ""
        status = f"exited with code {code}" if code is not None else "closed its output"
        return self.protocol_error(f"{status} {what}{cause}")

    # -- stopping ----------------------------------------------------------------------------
    def signal_group(self, sig: signal.Signals) -> bool:
        """Send ``sig`` to the CLI's whole process group; False when the group is gone."""
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - a reused pgid we do not own
            return False
        return True

    async def close(self, grace: float = TERM_GRACE_S) -> None:
        """Stop the CLI and everything in its process group, then reap it.

        Idempotent and safe to call concurrently (every caller waits for the same stop); the
        stop itself is shielded, so cancelling a caller never leaves the group half-stopped. A
        CLI that already exited has its group swept too, so tool processes it left behind do
        not outlive the run.
        """
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close(grace))
        await asyncio.shield(self._close_task)

    async def _close(self, grace: float) -> None:
        began = asyncio.get_running_loop().time()
        try:
            if self.process.returncode is None:
                self.signal_group(signal.SIGTERM)
                try:
                    await asyncio.wait_for(asyncio.shield(self.process.wait()), grace)
                except TimeoutError:
                    logger.debug("%s ignored SIGTERM; killing its group", self.argv[0])
        finally:
            self.signal_group(signal.SIGKILL)
        await self.process.wait()  # reaped (asyncio's child watcher waits for it)
        await self._wait_group_gone(began + STOP_BUDGET_S)
        # The group is dead, so stderr reaches EOF unless a process that left the group holds
        # it open: give up on it then rather than wait.
        with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
            await asyncio.wait_for(self._stderr_task, 1.0)
        if isinstance(self.process, AdoptedProcess):
            self.process.close_pipes()
        else:
            transport = getattr(self.process, "_transport", None)  # close pipes before loop ends
            if transport is not None:
                transport.close()

    async def _wait_group_gone(self, deadline: float) -> None:
        """Wait (until the loop time ``deadline``) for no process of the group to exist."""
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            try:
                os.killpg(self.pgid, 0)
            except (ProcessLookupError, PermissionError):
                return
            await asyncio.sleep(0.01)
        logger.warning("process group %d of %s outlived its kill", self.pgid, self.argv[0])
