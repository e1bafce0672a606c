"""The ``asm`` typer application and its entry point: commands wired together, errors reported.

:func:`run_cli` parses the command line, runs the command and turns every failure into one line on
stderr (``error: …``) and an exit code: 1 for errors, 2 for usage errors, 130 for Ctrl-C; a
traceback only with ``--debug`` (or ``ASM_DEBUG=1``). Commands load lazily (:class:`LazyGroup`):
``asm --help`` is rendered from the static :data:`COMMANDS` table and ``asm run`` imports only the
run command's module; commands import the store, manager and providers when they run.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Annotated, Any, NamedTuple

import typer
from typer.core import TyperCommand, TyperGroup

from agent_session_manager.cli import _output
from agent_session_manager.cli._options import StoreOption
from agent_session_manager.cli._runtime import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    state,
)
from agent_session_manager.core.errors import ASMError

__all__ = ["COMMANDS", "CommandEntry", "LazyGroup", "app", "load_command", "run_cli"]


class CommandEntry(NamedTuple):
    """One ``asm`` command: where it lives and the one-line help ``asm --help`` shows for it."""

    name: str
    module: str
    attribute: str  # a command function, or a ``typer.Typer`` group
    help: str


_COMMANDS = "agent_session_manager.cli.commands"
#: Every top-level command, in ``asm --help`` order. ``asm --help`` is rendered from this table,
#: and a command's module is imported only when that command runs (or its own help is shown);
#: tests/unit/cli checks each ``help`` against the command's real help.
COMMANDS: tuple[CommandEntry, ...] = (
    CommandEntry(
        "demo",
        f"{_COMMANDS}.demo",
        "demo",
        "Play a short scripted coding session into the store, rendered live, then summarise it.",
    ),
    CommandEntry(
        "run",
        f"{_COMMANDS}.run",
        "run",
        "Run PROMPT with a provider and print its events live as they are stored.",
    ),
    CommandEntry(
        "events",
        f"{_COMMANDS}.events",
        "events",
        "Print a session's events in sequence order; filters combine.",
    ),
    CommandEntry(
        "export",
        f"{_COMMANDS}.bundle",
        "export",
        "Export a session with its runs and events as a JSONL bundle.",
    ),
    CommandEntry(
        "import",
        f"{_COMMANDS}.bundle",
        "import_",
        "Import a session bundle; ids, sequence numbers and timestamps are kept.",
    ),
    CommandEntry(
        "prune",
        f"{_COMMANDS}.prune",
        "prune",
        "Delete old sessions, runs and events by a retention policy (try --dry-run first).",
    ),
    CommandEntry(
        "usage",
        f"{_COMMANDS}.usage",
        "usage",
        "Token usage and cost of runs, summed per session, agent or provider.",
    ),
    CommandEntry("sessions", f"{_COMMANDS}.sessions", "app", "List, show and create sessions."),
    CommandEntry("runs", f"{_COMMANDS}.runs", "app", "List and show runs."),
    CommandEntry(
        "db",
        f"{_COMMANDS}.db",
        "app",
        "The store's database: schema upgrades and storage statistics.",
    ),
    CommandEntry("config", f"{_COMMANDS}.config", "app", "Show the effective configuration."),
)


def load_command(entry: CommandEntry) -> Any:
    """The click command for ``entry``, built by typer from its module (imported now)."""
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    if isinstance(target, typer.Typer):
        return typer.main.get_group(target)
    single = typer.Typer(add_completion=False)
    single.command(entry.name)(target)
    return typer.main.get_command(single)


class _LazyCommands(MutableMapping[str, Any]):
    """Name -> command, importing a command's module on first lookup; iterating the names (and
    ``keys()``, which typer's "did you mean" uses) imports nothing."""

    def __init__(self, table: Sequence[CommandEntry]) -> None:
        self.entries = {entry.name: entry for entry in table}
        self.loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        command = self.loaded.get(name)
        if command is None:
            command = self.loaded[name] = load_command(self.entries[name])
        return command

    def __setitem__(self, name: str, command: Any) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if self.entries.pop(name, None) is None and name not in self.loaded:
            raise KeyError(name)
        self.loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        yield from self.entries
        yield from (name for name in self.loaded if name not in self.entries)

    def __len__(self) -> int:
        return len(self.entries.keys() | self.loaded.keys())


class LazyGroup(TyperGroup):
    """The root ``asm`` group: click's lazy-loading pattern. ``list_commands`` reads the static
    :data:`COMMANDS` table and ``get_command`` imports only the command asked for; while the
    group renders its own help, unloaded commands stand in as their table entry, so
    ``asm --help`` imports no command module (``asm run`` imports only ``run``'s)."""

    def __init__(self, *, commands: Mapping[str, Any] | None = None, **attrs: Any) -> None:
        super().__init__(**attrs)
        lazy = _LazyCommands(COMMANDS)
        lazy.update(commands or {})
        self.commands = lazy
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        lazy = self.commands
        assert isinstance(lazy, _LazyCommands)
        if self._listing and cmd_name not in lazy.loaded:
            entry = lazy.entries.get(cmd_name)
            return None if entry is None else TyperCommand(entry.name, help=entry.help)
        return lazy.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="asm",
    cls=LazyGroup,
    help=(
        "agent-session-manager: sessions, runs and a durable event log for AI coding agents.\n\n"
        "Start with:  asm demo"
    ),
    epilog="Docs: asm COMMAND --help.  Store: --store URL or $ASM_STORE.",
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            _output.out(f"asm {version('agentsessionmanager')}")
        except PackageNotFoundError:
            _output.out("asm (version unknown)")
        raise typer.Exit(EXIT_OK)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for errors (also ASM_DEBUG=1).")
    ] = False,
    store: StoreOption = None,
    config_file: Annotated[
        str | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="Config file (TOML). Default: $ASM_CONFIG, else config.toml in the user "
            "config directory.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """agent-session-manager: sessions, runs and a durable event log for AI coding agents.

    Start with `asm demo`, then `asm sessions list` and `asm events SESSION_ID`.
    """
    if debug:
        state.debug = True
    state.store_url = store
    state.config_file = config_file
    if ctx.invoked_subcommand is None:
        text = ctx.get_help()  # rich prints it itself and returns ""
        if text.strip():
            _output.out(text)
        raise typer.Exit(EXIT_OK)


def run_cli(argv: Sequence[str] | None = None) -> int:
    """Run ``asm`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    command = typer.main.get_command(app)
    try:
        result: Any = command.main(
            args=list(argv) if argv is not None else None,
            prog_name="asm",
            standalone_mode=False,
        )
    except CliError as exc:
        return _fail(exc, exc.message, exc.exit_code)
    except ASMError as exc:
        return _fail(exc, exc.message, EXIT_FAILURE)
    except typer.TyperException as exc:
        return _usage_failure(exc)
    except (KeyboardInterrupt, typer.Abort):
        _output.err("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_FAILURE
    except Exception as exc:
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            return _usage_failure(exc)  # a plain click exception (typer without vendored click)
        return _fail(exc, f"unexpected {type(exc).__name__}: {exc}", EXIT_FAILURE)
    return result if isinstance(result, int) else EXIT_OK


def _fail(exc: BaseException, message: str, code: int) -> int:
    if state.debug:
        _output.err("".join(traceback.format_exception(exc)).rstrip())
    if not state.debug and not isinstance(exc, CliError | ASMError):
        message += " (run with --debug for the traceback)"
    _output.error_line(message)
    return code


def _usage_failure(exc: Any) -> int:
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":
        # A command group called without a subcommand: show its help (rich has printed it).
        text = exc.format_message()
        if text.strip():
            _output.out(text)
        return EXIT_OK
    message = exc.format_message()
    if ctx is not None:
        message = f"{message} (see '{ctx.command_path} --help')"
    _output.error_line(message)
    code = getattr(exc, "exit_code", EXIT_USAGE)
    return code if isinstance(code, int) else EXIT_USAGE
