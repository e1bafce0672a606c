"""What the CLI adapters share: the runs in flight, the binary lookup and the adapter base class.

:class:`CLIRuns` runs one CLI per run through :class:`~._process.CLIProcess` and feeds its JSON
lines to the adapter's pure :class:`LineParser`, stopping the process group when the stream ends,
is closed or the run is cancelled; it also adopts a CLI prestarted for the run (:mod:`._prestart`).
:class:`CLIAdapterBase` holds the binary lookup, the name, extra arguments and the declared
capabilities of the Claude, Codex and Amp adapters, and :func:`flag_args` turns passthrough
options into command-line flags. This module knows processes only through ``CLIProcess`` and
events only as :class:`~.protocol.ProviderEvent`; it knows no particular CLI's output format and no
session manager or store.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from agent_session_manager.core.capabilities import Capability, CapabilityType
from agent_session_manager.core.errors import ProviderError
from agent_session_manager.providers._prestart import PrestartedProcess, locate_binary
from agent_session_manager.providers._process import CLINotFound, CLIProcess
from agent_session_manager.providers.protocol import ProviderEvent

logger = logging.getLogger(__name__)

#: How long a CLI may keep running after it reported the run's end before it is stopped.
EXIT_GRACE_S = 10.0


class LineParser(Protocol):
    """Turns one CLI's JSON objects into canonical events (pure: no I/O, no clock)."""

    @property
    def finished(self) -> bool:
        """True once the parser has produced the run's terminal event."""

    def feed(self, obj: dict[str, Any]) -> list[ProviderEvent]:
        """The events for one output object (often none)."""


class CLIRuns:
    """The CLI processes of the runs an adapter is executing, by run id (for ``cancel``).

    ``prestarted`` is a CLI started before its run (see :mod:`._prestart`): the first run whose
    command line, working directory and environment are exactly its own adopts it instead of
    spawning; the first run that differs kills it and spawns as usual.
    """

    def __init__(self, prestarted: PrestartedProcess | None = None) -> None:
        self._processes: dict[str, CLIProcess] = {}
        self._cancelled: set[str] = set()
        self._prestarted = prestarted

    def running(self, run_id: str) -> CLIProcess | None:
        return self._processes.get(run_id)

    def add(self, run_id: str, process: CLIProcess) -> None:
        """Track ``process`` as the run's (for :meth:`cancel`) until :meth:`remove`."""
        self._processes[run_id] = process

    def was_cancelled(self, run_id: str) -> bool:
        """Whether :meth:`cancel` stopped the run's process (its stream then just ends)."""
        return run_id in self._cancelled

    async def remove(self, run_id: str, process: CLIProcess) -> None:
        """The run is over: forget it and stop its process group (idempotent)."""
        self._processes.pop(run_id, None)
        self._cancelled.discard(run_id)
        await process.close()

    async def stream(
        self,
        run_id: str,
        argv: Sequence[str],
        parser: LineParser,
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> AsyncGenerator[ProviderEvent, None]:
        """Run ``argv`` and yield the parser's events. The process group is stopped when the
        stream ends, is closed, or :meth:`cancel` is called (then the stream just ends)."""
        process = await self._start(argv, cwd=cwd, env=env, stdin=stdin)
        self.add(run_id, process)
        try:
            try:
                async for obj in process.json_lines():
                    for event in parser.feed(obj):
                        yield event
                    if parser.finished:
                        break
            except ProviderError:
                if self.was_cancelled(run_id):
                    return
                raise
            if self.was_cancelled(run_id):
                return
            if not parser.finished:
                raise await process.exit_error()
            # Done: let the CLI finish its own bookkeeping (session files), but a process that
            # lingers, or a tool that keeps its stdout open, does not hold the run.
            try:
                await asyncio.wait_for(process.wait(), EXIT_GRACE_S)
            except TimeoutError:
                logger.warning("%s still running %.0f s after its result", argv[0], EXIT_GRACE_S)
        finally:
            await self.remove(run_id, process)

    async def _start(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None,
        env: Mapping[str, str] | None,
        stdin: bytes | None,
    ) -> CLIProcess:
        prestarted, self._prestarted = self._prestarted, None
        if prestarted is not None and not prestarted.claimed:
            same_env = dict(os.environ) if env is None else env
            if stdin is None and prestarted.matches(argv, cwd, same_env):
                return await CLIProcess.adopt(prestarted)
            logger.debug("prestarted %s does not match the run: killed", prestarted.argv[0])
            await asyncio.to_thread(prestarted.discard)
        return await CLIProcess.spawn(argv, cwd=cwd, env=env, stdin=stdin)

    async def cancel(self, run_id: str) -> None:
        """Stop the run's process group (within ~1 s: SIGTERM, then SIGKILL) and reap it."""
        process = self._processes.get(run_id)
        if process is None:
            return
        self._cancelled.add(run_id)
        await process.close()


def find_binary(
    explicit: str | None,
    *,
    name: str,
    env_var: str,
    package: str,
    env: Mapping[str, str] | None = None,
) -> str:
    """The CLI to run: ``explicit``, else ``$env_var`` (from ``env`` over the process
    environment), else ``name`` on ``PATH``; raises :class:`CLINotFound` (not retryable)."""
    found = locate_binary(explicit, name=name, env_var=env_var, env=env)
    if found is None:
        raise CLINotFound(
            f"the {name} CLI was not found: install {package}, put it on PATH or set {env_var}",
            retryable=False,
        )
    return found


class CLIAdapterBase:
    """What the CLI adapters share: the binary lookup, the name, extra arguments, the runs in
    flight (for ``cancel``) and the declared capabilities. Subclasses set the class attributes
    and implement ``command`` and ``stream``.

    ``prestarted``: the CLI already started for this adapter's next run (``asm run`` starts it
    before importing the library; see :mod:`agent_session_manager.providers._prestart`). The
    first run adopts it when its command line, working directory and environment are exactly
    the prestarted ones, and otherwise kills it and spawns as usual. The caller keeps the
    duty to :meth:`~._prestart.PrestartedProcess.discard` it in case no run ever starts.
    """

    cli_name: ClassVar[str]
    env_var: ClassVar[str]
    package: ClassVar[str]
    capability_types: ClassVar[tuple[CapabilityType, ...]] = (
        CapabilityType.SAMPLING,  # the agent samples a model every turn
        CapabilityType.TOOL,
        CapabilityType.CODE_EXECUTION,
        CapabilityType.FILE_ACCESS,
        CapabilityType.RESUME,
        CapabilityType.CANCEL,
    )

    def __init__(
        self,
        binary: str | None = None,
        *,
        name: str | None = None,
        extra_args: Sequence[str] = (),
        prestarted: PrestartedProcess | None = None,
    ) -> None:
        self._binary = binary
        self._name = name or self.cli_name
        self._extra_args = tuple(extra_args)
        self._runs = CLIRuns(prestarted)

    @property
    def name(self) -> str:
        return self._name

    def capabilities(self) -> Sequence[Capability]:
        return tuple(
            Capability(name="tools" if t is CapabilityType.TOOL else t.value, type=t)
            for t in self.capability_types
        )

    def binary_path(self, env: Mapping[str, str] | None = None) -> str:
        """The CLI to run (raises ``provider_unavailable`` when there is none)."""
        return find_binary(
            self._binary, name=self.cli_name, env_var=self.env_var, package=self.package, env=env
        )

    async def cancel(self, run_id: str) -> None:
        await self._runs.cancel(run_id)


def flag_args(extra: Mapping[str, Any]) -> list[str]:
    """Passthrough options keyed by a flag (``{"--add-dir": "/x", "--verbose": True}``) as
    command-line arguments: ``True`` gives the flag alone, a list repeats it; other keys are
    ignored (adapters read them as named options)."""
    args: list[str] = []
    for key, value in extra.items():
        if not key.startswith("-") or value is None or value is False:
            continue
        if value is True:
            args.append(key)
        elif isinstance(value, list | tuple):
            for item in value:
                args += [key, str(item)]
        else:
            args += [key, str(value)]
    return args
