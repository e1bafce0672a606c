"""The Shell adapter: runs one command as a provider (its stdout is the run's output).

A run executes the command given in ``options.extra["command"]`` (a string for ``/bin/sh -c``, or
an argv list), or else the run's prompt, through ``/bin/sh -c``, in its own process group via the
shared process module. The command is reported as one tool call (``tool_call_started`` with
``tool_name: "shell"`` and ``tool_input: {"command": ...}``), stdout streams as
``message_streamed`` chunks, and the run ends with ``tool_call_completed``, a ``message_received``
holding stdout and ``run_completed`` on exit code 0. A non-zero exit (or death by a signal) is a
``tool_call_failed`` followed by a ``ProviderError`` whose details carry ``exit_code`` and the
tail of stderr, so the run ends ``failed``. Cancel and the manager's timeout stop the whole
process group. This module knows processes and text; it knows nothing of any agent CLI, of
stores or of the session manager.
"""

from __future__ import annotations

import codecs
import os
import signal
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agent_session_manager.core.capabilities import Capability, CapabilityType
from agent_session_manager.core.errors import ProviderError, ValidationError
from agent_session_manager.core.events import EventType
from agent_session_manager.providers._cli_adapter import CLIRuns
from agent_session_manager.providers._process import CLIProcess
from agent_session_manager.providers.protocol import PermissionMode, ProviderEvent, RunRequest

__all__ = ["MAX_OUTPUT_CHARS", "STDERR_DETAIL_CHARS", "ShellAdapter"]

#: How much of stdout is kept for ``tool_output`` / the final message (the tail; every chunk
#: is streamed as it comes regardless).
MAX_OUTPUT_CHARS = 1024 * 1024
#: How much of stderr is put into a failure's details.
STDERR_DETAIL_CHARS = 2000


class ShellAdapter:
    """A ``ProviderAdapter`` that runs a shell command per run.

    ``shell`` is the interpreter for string commands (``/bin/sh`` by default; ``-c`` is added).
    ``options.extra``: ``command`` (str or list of str; default: the prompt), ``stdin`` (str fed
    to the command; default: ``/dev/null``). ``permission_mode`` does not apply (the command is
    the caller's own, not an agent's choice) except ``plan``, which is refused because a plan-only
    run cannot execute anything; ``allowed_tools`` / ``denied_tools`` are refused (no tools).
    """

    def __init__(self, *, shell: str = "/bin/sh", name: str = "shell") -> None:
        self._shell = shell
        self._name = name
        self._runs = CLIRuns()

    @property
    def name(self) -> str:
        return self._name

    def capabilities(self) -> Sequence[Capability]:
        return (
            Capability(name="streaming", type=CapabilityType.STREAMING),
            Capability(name="code_execution", type=CapabilityType.CODE_EXECUTION),
            Capability(name="cancel", type=CapabilityType.CANCEL),
        )

    def running(self, run_id: str) -> CLIProcess | None:
        """The process of a run in progress (for tests and diagnostics)."""
        return self._runs.running(run_id)

    def command(self, request: RunRequest) -> tuple[list[str], str | list[str]]:
        """The argv to spawn and the command as reported in ``tool_input``."""
        options = request.options
        if options.permission_mode is PermissionMode.PLAN:
            raise ValidationError(
                "the shell provider cannot run in plan mode: it executes its command"
            )
        if options.allowed_tools or options.denied_tools:
            raise ValidationError(
                "the shell provider has no tools: allowed_tools and denied_tools do not apply"
            )
        given: Any = options.extra.get("command", request.prompt)
        if isinstance(given, list | tuple) and given and all(isinstance(a, str) for a in given):
            return list(given), list(given)
        if isinstance(given, str) and given.strip():
            return [self._shell, "-c", given], given
        raise ValidationError(
            "the shell provider needs a command: a non-empty prompt or options.extra['command'] "
            "(a string or a list of strings)"
        )

    async def stream(self, request: RunRequest) -> AsyncIterator[ProviderEvent]:
        options = request.options
        argv, shown = self.command(request)
        stdin = options.extra.get("stdin")
        env = {**os.environ, **options.env}
        process = await CLIProcess.spawn(
            argv,
            cwd=options.cwd,
            env=env,
            stdin=stdin.encode() if isinstance(stdin, str) else None,
        )
        run_id = request.run_id
        self._runs.add(run_id, process)
        call_id = f"shell_{process.pid}"
        tool = {"tool_call_id": call_id, "tool_name": "shell", "tool_input": {"command": shown}}
        try:
            yield ProviderEvent(EventType.RUN_STARTED, {})
            yield ProviderEvent(EventType.TOOL_CALL_STARTED, tool)
            output = ""
            stdout = process.process.stdout
            assert stdout is not None
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            while True:
                chunk = await stdout.read(65536)
                text = decoder.decode(chunk, final=not chunk)
                if text:
                    output = (output + text)[-MAX_OUTPUT_CHARS:]
                    yield ProviderEvent(EventType.MESSAGE_STREAMED, {"delta": text})
                if not chunk:
                    break
            code = await process.wait()
            if self._runs.was_cancelled(run_id):
                return
            if code != 0:
                error = _exit_error(argv, code, process.stderr_tail)
                failed = {**tool, "tool_output": output, "error_message": error.message}
                failed["reason"] = "tool_error"
                yield ProviderEvent(EventType.TOOL_CALL_FAILED, failed)
                raise error
            yield ProviderEvent(EventType.TOOL_CALL_COMPLETED, {**tool, "tool_output": output})
            yield ProviderEvent(
                EventType.MESSAGE_RECEIVED, {"role": "assistant", "content": output}
            )
            yield ProviderEvent(EventType.RUN_COMPLETED, {"stop_reason": "exit", "content": output})
        finally:
            await self._runs.remove(run_id, process)

    async def cancel(self, run_id: str) -> None:
        """Stop the run's process group (SIGTERM, SIGKILL after a grace) and reap it."""
        await self._runs.cancel(run_id)


def _exit_error(argv: Sequence[str], code: int, stderr: str) -> ProviderError:
    tail = stderr.strip()[-STDERR_DETAIL_CHARS:]
    if code < 0:
        try:
            what = f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            what = f"was killed by signal {-code}"
    else:
        what = f"exited with code {code}"
    last = tail.splitlines()[-1] if tail else ""
    message = f"command {what}" + (f": {last}" if last else "")
    details: dict[str, Any] = {"exit_code": code, "argv0": os.path.basename(argv[0])}
    if tail:
        details["stderr"] = tail
    return ProviderError(message, code="provider_error", details=details, retryable=False)
