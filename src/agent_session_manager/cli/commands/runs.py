"""``asm runs list|show``: a session's runs, and one run in detail (status, usage, output, error).

Tables by default, ``--json`` for the models' ``to_dict()``. The store is opened inside each
command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from agent_session_manager.cli import _output
from agent_session_manager.cli._options import JsonOption, StoreOption
from agent_session_manager.cli._runtime import open_cli_store, run_async

if TYPE_CHECKING:
    from agent_session_manager.core.models import Run

__all__ = ["app", "list_runs", "show_run"]

app = typer.Typer(
    name="runs", help="List and show runs.", no_args_is_help=True, add_completion=False
)


@app.command("list")
def list_runs(
    session_id: Annotated[str, typer.Argument(metavar="SESSION_ID", help="Session id (ses_…).")],
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """List a session's runs, oldest first.

    Examples:
      asm runs list ses_0192…
      asm runs list ses_0192… --json
    """
    run_async(_list(session_id, as_json, store))


async def _list(session_id: str, as_json: bool, store_url: str | None) -> None:
    from agent_session_manager.cli.commands.sessions import print_runs_table

    async with open_cli_store(store_url) as store:
        session = await store.get_session(session_id)
        runs = await store.list_runs(session.id)
    if as_json:
        _output.print_json([run.to_dict() for run in runs])
    elif not runs:
        _output.err(f"session {session.id} has no runs")
    else:
        print_runs_table(runs)


@app.command("show")
def show_run(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="Run id (run_…).")],
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """Show one run: status, provider, timing, token usage, prompt, output and error.

    Examples:
      asm runs show run_0192…
      asm runs show run_0192… --json
    """
    run_async(_show(run_id, as_json, store))


async def _show(run_id: str, as_json: bool, store_url: str | None) -> None:
    async with open_cli_store(store_url) as store:
        run = await store.get_run(run_id)
    if as_json:
        _output.print_json(run.to_dict())
        return
    _output.print_fields(_run_fields(run), title=f"Run {run.id}")


def _run_fields(run: Run) -> list[tuple[str, str]]:
    usage = run.token_usage
    fields = [
        ("session", run.session_id),
        ("status", str(run.status)),
        ("provider", run.provider or "-"),
        ("model", run.model or "-"),
        ("provider session", run.provider_session_id or "-"),
        ("created", _output.fmt_time(run.created_at) + " UTC"),
        ("started", _output.fmt_time(run.started_at)),
        ("ended", _output.fmt_time(run.ended_at)),
        ("duration", _output.fmt_duration(run.duration_ms)),
        ("turns", str(run.turn_count)),
        ("tokens", _output.fmt_tokens(usage)),
    ]
    if usage.cache_read_tokens or usage.cache_creation_tokens:
        fields.append(
            (
                "cache",
                f"{usage.cache_read_tokens:,} read / {usage.cache_creation_tokens:,} written",
            )
        )
    fields.append(("cost", _output.fmt_cost(run.cost_usd)))
    prompt = _prompt(run)
    if prompt:
        fields.append(("prompt", _output.one_line(prompt, 200)))
    output = run.output or {}
    content = output.get("content")
    if isinstance(content, str) and content:
        fields.append(("output", _output.one_line(content, 400)))
    stop_reason = output.get("stop_reason")
    if isinstance(stop_reason, str):
        fields.append(("stop reason", stop_reason))
    error = run.error_object
    if error is not None:
        fields.append(("error", f"{error.message} [{error.code}]"))
    return fields


def _prompt(run: Run) -> str:
    messages = run.input.get("messages")
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else ""
    return ""
