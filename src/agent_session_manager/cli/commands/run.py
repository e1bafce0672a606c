"""``asm run``: send one prompt to a provider, print the run's events live, exit with its outcome.

Exit codes: 0 completed, 1 failed or timed out, 130 cancelled (Ctrl-C cancels the run through
the manager, so it is stored ``cancelled``), 2 usage errors. Without ``--session`` a new session
is created and closed (``SessionManager.run_once``); with it the run joins that session, which
stays active. Also holds :func:`execute_prompt`, the live-run loop ``asm demo`` shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agent_session_manager.cli import _early, _output
from agent_session_manager.cli._live import LivePrinter, OutputFormat, make_renderer
from agent_session_manager.cli._options import FormatOption, StoreOption
from agent_session_manager.cli._providers import adapter_options, build_adapter, check_provider
from agent_session_manager.cli._runtime import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CliError,
    UsageError,
    interrupts,
    open_cli_store,
    run_async,
)

if TYPE_CHECKING:
    from agent_session_manager.manager import RunResult, SessionManager
    from agent_session_manager.providers.protocol import AdapterOptions, ProviderAdapter
    from agent_session_manager.store.protocol import SessionStore

__all__ = ["execute_prompt", "exit_code", "run"]


def run(
    prompt: Annotated[
        str,
        typer.Argument(
            metavar="PROMPT",
            help="The prompt to send ('-' reads it from stdin).",
            show_default=False,
        ),
    ],
    provider: Annotated[
        str,
        typer.Option(
            "--provider",
            "-p",
            help="scripted, claude, codex, amp, acp or shell (the CLIs are found on PATH or via "
            "ASM_CLAUDE_PATH / ASM_CODEX_PATH / ASM_AMP_PATH; acp runs --acp-command; shell runs "
            "PROMPT as a command).",
        ),
    ] = "scripted",
    acp_command: Annotated[
        str | None,
        typer.Option(
            "--acp-command",
            metavar="CMD",
            help="With --provider acp: the agent command speaking ACP over stdio "
            '(e.g. "claude-code-acp").',
            show_default=False,
        ),
    ] = None,
    scenario: Annotated[
        Path | None,
        typer.Option(
            "--scenario",
            metavar="FILE",
            dir_okay=False,
            help="JSON scenario for the scripted provider (default: a short canned reply).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model name.", show_default=False)
    ] = None,
    session: Annotated[
        str | None,
        typer.Option(
            "--session",
            "-s",
            metavar="ID",
            help="Add the run to this session (activated if pending; it stays active).",
            show_default=False,
        ),
    ] = None,
    cwd: Annotated[
        Path | None,
        typer.Option(
            "--cwd",
            metavar="DIR",
            exists=True,
            file_okay=False,
            help="Working directory for the agent.",
            show_default=False,
        ),
    ] = None,
    permission_mode: Annotated[
        str,
        typer.Option(
            "--permission-mode",
            metavar="MODE",
            help="default, accept_edits, plan, full_auto or dangerously_skip_permissions.",
        ),
    ] = "default",
    max_turns: Annotated[
        int | None,
        typer.Option("--max-turns", min=1, metavar="N", help="Stop after N agent turns."),
    ] = None,
    system_prompt: Annotated[
        str | None,
        typer.Option("--system-prompt", metavar="TEXT", help="System prompt.", show_default=False),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            min=0.001,
            help="Stop the run (status timed_out) after this long. Default: 1800.",
            show_default=False,
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.COMPACT,
    store: StoreOption = None,
) -> None:
    """Run PROMPT with a provider and print its events live as they are stored.

    Exit status: 0 completed, 1 failed or timed out, 2 usage error, 130 cancelled (Ctrl-C).
    The summary goes to stderr: with --format jsonl, stdout holds only the stored events.
    Without --session a new session is created and closed; with it, the session stays active.

    Examples:
      asm run "Summarise the README"
      asm run --scenario slow.json --timeout 5 "Try the slow path"
      asm run --provider acp --acp-command "claude-code-acp" "Fix the failing test"
      SID=$(asm sessions create) && asm run --session "$SID" -f jsonl "Go" > events.jsonl
    """
    if prompt == "-":
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise UsageError("PROMPT must not be empty")
    provider = check_provider(provider)
    options = adapter_options(
        model=model,
        permission_mode=permission_mode,
        max_turns=max_turns,
        system_prompt=system_prompt,
        cwd=cwd,
    )
    # The agent `main` may have started already (cli/_early.py); the adapter adopts it if the
    # run's command line is the same, and `main` kills it if no run does.
    adapter = build_adapter(provider, scenario, acp_command, prestarted=_early.take())
    code = run_async(
        _run(prompt, adapter, options, session, timeout, output_format, store, system_prompt)
    )
    raise typer.Exit(code)


async def _run(
    prompt: str,
    adapter: ProviderAdapter,
    options: AdapterOptions,
    session_id: str | None,
    timeout: float | None,
    output_format: OutputFormat,
    store_url: str | None,
    system_prompt: str | None,
) -> int:
    async with open_cli_store(store_url) as store:
        renderer = make_renderer(output_format, color=_output.color_enabled())
        # On a terminal a status line (spinner, elapsed, tokens, cost) sits under the output.
        progress = None
        if output_format is not OutputFormat.JSONL and sys.stdout.isatty():
            from agent_session_manager.cli._progress import terminal_progress  # imports rich

            progress = terminal_progress()
        printer = LivePrinter(
            store,
            renderer,
            write=progress.write if progress else None,
            observe=progress.observe if progress else None,
        )
        with progress or contextlib.nullcontext():
            result = await execute_prompt(
                store,
                adapter,
                printer,
                prompt,
                session_id=session_id,
                options=options,
                timeout=timeout,
                session_kwargs={"system_prompt": system_prompt},
            )
            printer.finish()
        _summarise(result, printer.printed)
        return exit_code(result)


async def execute_prompt(
    store: SessionStore,
    adapter: ProviderAdapter,
    printer: LivePrinter,
    prompt: str,
    *,
    session_id: str | None,
    options: AdapterOptions,
    timeout: float | None,
    session_kwargs: dict[str, Any],
) -> RunResult:
    """Run ``prompt`` (in a new session, or in ``session_id``) printing events live.

    The first Ctrl-C cancels the run through the manager (the run ends ``cancelled`` and the
    result is returned); a second one, or one before the run has started, cancels the task.
    """
    from agent_session_manager.manager import SessionManager

    manager = SessionManager(store, adapter)
    loop = asyncio.get_running_loop()
    cancels: list[asyncio.Task[Any]] = []

    def on_interrupt(sig: signal.Signals) -> bool:
        if printer.run_id is None:
            return False
        cancel = manager.cancel_run(printer.run_id, reason=f"interrupted ({sig.name})")
        cancels.append(loop.create_task(cancel))
        return True

    run_kwargs: dict[str, Any] = {"options": options, "on_event": printer.on_event}
    if timeout is not None:
        run_kwargs["timeout"] = timeout
    with interrupts(on_interrupt):
        if session_id is None:
            result = await manager.run_once(prompt, **session_kwargs, **run_kwargs)
        else:
            await _join_session(store, manager, printer, session_id)
            run = await manager.start_run(session_id, prompt)
            result = await manager.execute_run(run.id, **run_kwargs)
        for outcome in await asyncio.gather(*cancels, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome
    await printer.catch_up()
    return result


async def _join_session(
    store: SessionStore, manager: SessionManager, printer: LivePrinter, session_id: str
) -> None:
    from agent_session_manager.core.lifecycle import SessionStatus

    session = await store.get_session(session_id)
    printer.session_id = session.id
    printer.cursor = await store.latest_sequence(session.id)
    if session.status is SessionStatus.PENDING:
        await manager.activate_session(session.id)
    elif session.status is SessionStatus.PAUSED:
        raise CliError(f"session {session.id} is paused; resume it before adding runs")
    elif session.status.is_terminal:
        raise CliError(
            f"session {session.id} is {session.status}; runs can only join a pending or "
            "active session (omit --session to start a new one)"
        )


def exit_code(result: RunResult) -> int:
    """0 completed, 130 cancelled, 1 anything else (failed, timed out)."""
    from agent_session_manager.core.lifecycle import RunStatus

    if result.status is RunStatus.COMPLETED:
        return EXIT_OK
    if result.status is RunStatus.CANCELLED:
        return EXIT_INTERRUPTED
    return EXIT_FAILURE


def _summarise(result: RunResult, printed: int) -> None:
    run = result.run
    _output.err(f"{run.status} · run {run.id} · session {run.session_id}")
    _output.err(
        f"tokens {_output.fmt_tokens(run.token_usage)} · {printed} events · "
        f"{_output.fmt_duration(run.duration_ms)}"
    )
    error = result.error
    if error is not None and run.status.value not in ("completed", "cancelled"):
        _output.error_line(f"{error.message} [{error.code}]")
