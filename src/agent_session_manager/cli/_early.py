"""Early spawn for ``asm run --provider claude``: start the agent before the library is imported.

The ``claude`` CLI needs ~0.35 s to boot, about what ``asm run`` spends importing typer, pydantic,
the manager and a store backend and opening the store. :func:`start` runs first in ``main``: it
reads the ``asm run`` command line with a strict, stdlib-only parser and, when the run is
certainly a new ``claude`` run whose options are all valid, starts the CLI with exactly the
command line, working directory and environment the adapter would use. The run command then
hands the process to the adapter (:func:`take`), which adopts it only if its own command line
matches (else kills it and spawns, so a parser slip costs time, never correctness).

Anything unusual (``--session``, ``--help``, a prompt on stdin, an option this parser does not
know, a value typer would refuse) means no early spawn: typer parses and reports as always.
Whatever goes wrong after the spawn (store, config, usage), ``main`` discards the process in a
``finally``: unless a run adopted it, its process group is killed and it is reaped. Must import
nothing beyond the stdlib and ``providers._prestart``.
"""

from __future__ import annotations

import os

from agent_session_manager.providers._prestart import (
    CLAUDE_PERMISSION_FLAGS,
    MAX_ARG_BYTES,
    PrestartedProcess,
    claude_argv,
    locate_binary,
    prestart,
)

#: ``typing.TYPE_CHECKING`` without importing ``typing``: this module runs before the spawn.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: Global options that may come before ``run`` (value-taking, then flags).
_GLOBAL_VALUES = frozenset({"--store", "--config"})
_GLOBAL_FLAGS = frozenset({"--debug"})
#: Every ``asm run`` option (all take one value) -> its parameter name.
_RUN_OPTIONS = {
    "--provider": "provider",
    "-p": "provider",
    "--acp-command": "acp_command",
    "--scenario": "scenario",
    "--model": "model",
    "-m": "model",
    "--session": "session",
    "-s": "session",
    "--cwd": "cwd",
    "--permission-mode": "permission_mode",
    "--max-turns": "max_turns",
    "--system-prompt": "system_prompt",
    "--timeout": "timeout",
    "--format": "format",
    "-f": "format",
    "--store": "store",
}
_FORMATS = frozenset({"compact", "verbose", "jsonl"})

_pending: PrestartedProcess | None = None


def parse_run(args: Sequence[str]) -> dict[str, str] | None:
    """The options and ``prompt`` of an ``asm run`` command line, or ``None`` when it is not
    one or uses anything beyond plain ``--option value`` / ``--option=value`` forms."""
    index = 0
    while index < len(args) and args[index] != "run":
        name, equals, _ = args[index].partition("=")
        if args[index] in _GLOBAL_FLAGS:
            index += 1
        elif name in _GLOBAL_VALUES:
            if not equals and (index + 1 >= len(args) or args[index + 1].startswith("-")):
                return None
            index += 1 if equals else 2
        else:
            return None
    rest = args[index + 1 :]
    if index >= len(args):
        return None
    values: dict[str, str] = {}
    positionals: list[str] = []
    index = 0
    while index < len(rest):
        arg = rest[index]
        if arg == "--":
            positionals += rest[index + 1 :]
            break
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            index += 1
            continue
        name, equals, value = arg.partition("=")
        key = _RUN_OPTIONS.get(name)
        if key is None or key in values or (equals and not name.startswith("--")):
            return None
        if not equals:
            if index + 1 >= len(rest) or rest[index + 1].startswith("-"):
                return None
            value = rest[index + 1]
        values[key] = value
        index += 1 if equals else 2
    if len(positionals) != 1:
        return None
    values["prompt"] = positionals[0]
    return values


def claude_plan(
    values: Mapping[str, str], environ: Mapping[str, str]
) -> tuple[list[str], str | None] | None:
    """(command line, working directory) of the ``claude`` run ``values`` describe, or ``None``
    unless it is a new claude run that ``asm run`` will certainly accept."""
    if values.get("provider", "scripted").strip().lower() != "claude":
        return None
    if {"session", "scenario", "acp_command"} & values.keys():
        return None
    prompt = values["prompt"]
    if prompt == "-" or not prompt.strip() or len(prompt.encode()) > MAX_ARG_BYTES:
        return None
    mode = values.get("permission_mode", "default").strip().lower().replace("-", "_")
    if mode not in CLAUDE_PERMISSION_FLAGS:
        return None
    if values.get("format", "compact").lower() not in _FORMATS:
        return None
    max_turns = None
    try:
        if "max_turns" in values:
            max_turns = int(values["max_turns"])
        timeout = float(values.get("timeout", "1"))
    except ValueError:
        return None
    if (max_turns is not None and max_turns < 1) or not timeout >= 0.001:  # nan too
        return None
    cwd = values.get("cwd")
    if cwd is not None:
        if not os.path.isdir(cwd):
            return None
        cwd = os.path.realpath(cwd)
    binary = locate_binary(None, name="claude", env_var="ASM_CLAUDE_PATH", env=environ)
    if binary is None:
        return None
    argv = claude_argv(
        binary,
        permission_mode=mode,
        model=values.get("model") or None,
        max_turns=max_turns,
        system_prompt=values.get("system_prompt"),
        prompt=prompt,
    )
    return argv, cwd


def start(args: Sequence[str]) -> PrestartedProcess | None:
    """Start the agent of an ``asm run`` command line when it is safe (see the module doc);
    the process waits here for the run command to :func:`take` it. The caller discards it
    once the command is over (a no-op once a run adopted it)."""
    global _pending
    values = parse_run(args)
    if values is None:
        return None
    environ = dict(os.environ)
    plan = claude_plan(values, environ)
    if plan is None:
        return None
    argv, cwd = plan
    _pending = prestart(argv, cwd=cwd, env=environ)
    if _pending is not None:
        _stop_with_sigterm(_pending)
    return _pending


def _stop_with_sigterm(started: PrestartedProcess) -> None:
    """Until the run installs its own handler, SIGTERM kills and reaps the agent, then ends
    ``asm`` as it would have ended anyway (the agent leads its own session, so it would not
    get the signal and would be orphaned)."""
    import signal

    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def stop(signum: int, frame: object) -> None:
        started.discard()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, stop)


def take() -> PrestartedProcess | None:
    """The process :func:`start` started, if any, for the run command's adapter."""
    global _pending
    taken, _pending = _pending, None
    return taken
