"""The ``asm`` typer application and its entry point: commands wired together, errors reported.

:func:`run_cli` parses the command line, runs the command and turns every failure into one line on
stderr (``error: …``) and an exit code: 1 for errors, 2 for usage errors, 130 for Ctrl-C; a
traceback only with ``--debug`` (or ``ASM_DEBUG=1``). Only typer, rich (for help) and the light
command modules are imported here, so ``asm --help`` stays fast; commands import the store,
manager and providers when they run.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from typing import Annotated, Any

import typer

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
from agent_session_manager.cli.commands import (
    bundle,
    config,
    db,
    demo,
    events,
    prune,
    run,
    runs,
    search,
    sessions,
    usage,
)
from agent_session_manager.core.errors import ASMError

app = typer.Typer(
    name="asm",
    help=(
        "agent-session-manager: sessions, runs and a durable event log for AI coding agents.\n\n"
        "Start with:  asm demo"
    ),
    epilog="Docs: asm COMMAND --help.  Store: --store URL or $ASM_STORE.",
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("demo")(demo.demo)
app.command("run")(run.run)
app.command("events")(events.events)
app.add_typer(sessions.app)
app.add_typer(runs.app)
app.add_typer(db.app)
app.add_typer(config.app)
app.command("export")(bundle.export)
app.command("import")(bundle.import_)
app.command("prune")(prune.prune)
app.command("usage")(usage.usage)
sessions.app.command("search")(search.search)


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
