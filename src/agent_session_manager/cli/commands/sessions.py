"""``asm sessions list|show|create``: find sessions and look at one with its runs.

Read commands print a table (or ``--json``: the models' ``to_dict()``, lists as a JSON array);
``create`` makes a pending session that ``asm run --session`` can add runs to. The store is
opened inside each command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from agent_session_manager.cli import _output
from agent_session_manager.cli._options import JsonOption, StoreOption
from agent_session_manager.cli._providers import build_adapter, check_provider
from agent_session_manager.cli._runtime import CliError, open_cli_store, run_async
from agent_session_manager.cli.commands._filters import (
    SinceOption,
    UntilOption,
    parse_session_status,
    parse_when,
)
from agent_session_manager.cli.commands.search import search

if TYPE_CHECKING:
    from datetime import datetime

    from agent_session_manager.core.lifecycle import SessionStatus
    from agent_session_manager.core.models import Run, Session
    from agent_session_manager.providers.protocol import ProviderAdapter

__all__ = [
    "app",
    "create_session",
    "delete_sessions",
    "list_sessions",
    "print_runs_table",
    "show_session",
]

app = typer.Typer(
    name="sessions",
    help="List, show and create sessions.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("list")
def list_sessions(
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            metavar="S",
            help="pending, active, paused, completed, failed or cancelled.",
            show_default=False,
        ),
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent", metavar="A", help="Only this agent's sessions.", show_default=False
        ),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            metavar="T",
            help="Only sessions with this tag (repeatable: all must match).",
            show_default=False,
        ),
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="At most N.")] = 50,
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """List sessions, newest first.

    Examples:
      asm sessions list --status active --tag demo
      asm sessions list --json --limit 5
    """
    wanted = parse_session_status(status) if status is not None else None
    window = (parse_when(since, "--since"), parse_when(until, "--until"))
    run_async(_list(wanted, agent, tuple(tag or ()), window, limit, as_json, store))


async def _list(
    status: SessionStatus | None,
    agent: str | None,
    tags: tuple[str, ...],
    window: tuple[datetime | None, datetime | None],
    limit: int,
    as_json: bool,
    store_url: str | None,
) -> None:
    async with open_cli_store(store_url) as store:
        sessions = await store.list_sessions(
            status=status,
            agent_id=agent,
            tags=tags,
            created_after=window[0],
            created_before=window[1],
            limit=limit,
        )
    if as_json:
        _output.print_json([session.to_dict() for session in sessions])
        return
    if not sessions:
        _output.err("no sessions found")
        return
    _output.print_table(
        ["SESSION", "STATUS", "AGENT", "PROVIDER", "TAGS", "CREATED (UTC)"],
        [
            [
                s.id,
                str(s.status),
                s.agent_id,
                s.provider or "-",
                ",".join(s.tags) or "-",
                _output.fmt_time(s.created_at),
            ]
            for s in sessions
        ],
    )


@app.command("show")
def show_session(
    session_id: Annotated[str, typer.Argument(metavar="ID", help="Session id (ses_…).")],
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """Show a session and its runs.

    With --json: {"session": {...}, "runs": [{...}, ...]}.

    Examples:
      asm sessions show ses_0192…
      asm sessions show ses_0192… --json
    """
    run_async(_show(session_id, as_json, store))


async def _show(session_id: str, as_json: bool, store_url: str | None) -> None:
    async with open_cli_store(store_url) as store:
        session = await store.get_session(session_id)
        runs = await store.list_runs(session.id)
    if as_json:
        _output.print_json({"session": session.to_dict(), "runs": [run.to_dict() for run in runs]})
        return
    _output.print_fields(_session_fields(session), title=f"Session {session.id}")
    _output.out()
    if not runs:
        _output.out("no runs")
        return
    print_runs_table(runs)


@app.command("create")
def create_session(
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent",
            metavar="A",
            help="Agent id (default: the provider's name).",
            show_default=False,
        ),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag", metavar="T", help="Tag the session (repeatable).", show_default=False
        ),
    ] = None,
    system_prompt: Annotated[
        str | None,
        typer.Option(
            "--system-prompt",
            metavar="TEXT",
            help="System prompt for every run.",
            show_default=False,
        ),
    ] = None,
    provider: Annotated[
        str,
        typer.Option(
            "--provider",
            "-p",
            help="Provider the session is for: scripted, claude, codex, amp, acp or shell.",
        ),
    ] = "scripted",
    acp_command: Annotated[
        str | None,
        typer.Option(
            "--acp-command",
            metavar="CMD",
            help="With --provider acp: the agent command.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """Create a pending session and print its id; add runs with asm run --session ID.

    Examples:
      SID=$(asm sessions create --tag review --system-prompt "Be terse.")
      asm run --session "$SID" "First question" && asm run --session "$SID" "Follow-up"
    """
    adapter = build_adapter(check_provider(provider), None, acp_command)
    run_async(_create(adapter, agent, tuple(tag or ()), system_prompt, as_json, store))


async def _create(
    adapter: ProviderAdapter,
    agent: str | None,
    tags: tuple[str, ...],
    system_prompt: str | None,
    as_json: bool,
    store_url: str | None,
) -> None:
    from agent_session_manager.manager import SessionManager

    async with open_cli_store(store_url) as store:
        manager = SessionManager(store, adapter)
        session = await manager.start_session(agent, system_prompt=system_prompt, tags=tags)
    if as_json:
        _output.print_json(session.to_dict())
    else:
        _output.out(session.id)


@app.command("delete")
def delete_sessions(
    session_ids: Annotated[
        list[str], typer.Argument(metavar="ID...", help="Session ids (ses_…) to delete.")
    ],
    force: Annotated[
        bool,
        typer.Option("--force", help="Also delete sessions that are still active or paused."),
    ] = False,
    store: StoreOption = None,
) -> None:
    """Delete sessions with their runs and events (cannot be undone).

    Sessions that are still pending, active or paused are refused unless --force is given.
    Every id is checked before anything is deleted.

    Examples:
      asm sessions delete ses_0192…
      asm sessions delete ses_0192… ses_0193… --force
    """
    run_async(_delete(session_ids, force, store))


async def _delete(session_ids: list[str], force: bool, store_url: str | None) -> None:
    async with open_cli_store(store_url) as store:
        sessions = [await store.get_session(session_id) for session_id in session_ids]
        live = [s for s in sessions if not s.status.is_terminal]
        if live and not force:
            names = ", ".join(f"{s.id} ({s.status})" for s in live)
            raise CliError(
                f"refusing to delete sessions that are not finished: {names}; use --force"
            )
        for session in sessions:
            await store.delete_session(session.id)
            _output.out(f"deleted {session.id}")


def print_runs_table(runs: list[Run]) -> None:
    """The runs of a session as a table (shared with ``asm runs list``)."""
    _output.print_table(
        ["RUN", "STATUS", "MODEL", "TOKENS IN/OUT", "TURNS", "DURATION", "CREATED (UTC)"],
        [
            [
                run.id,
                str(run.status),
                run.model or "-",
                f"{run.token_usage.input_tokens:,}/{run.token_usage.output_tokens:,}",
                str(run.turn_count),
                _output.fmt_duration(run.duration_ms),
                _output.fmt_time(run.created_at),
            ]
            for run in runs
        ],
    )


def _session_fields(session: Session) -> list[tuple[str, str]]:
    fields = [
        ("status", str(session.status)),
        ("agent", session.agent_id),
        ("provider", session.provider or "-"),
        ("tags", ", ".join(session.tags) or "-"),
        ("created", _output.fmt_time(session.created_at) + " UTC"),
        ("updated", _output.fmt_time(session.updated_at) + " UTC"),
    ]
    if session.system_prompt:
        fields.append(("system prompt", _output.one_line(session.system_prompt, 100)))
    for name, handle in session.provider_handles.items():
        fields.append((f"{name} handle", handle.provider_session_id))
    if session.workspace:
        fields.append(("workspace", session.workspace))
    if session.parent_session_id:
        fields.append(("parent", session.parent_session_id))
    if session.metadata:
        fields.append(("metadata", _output.one_line(_output.json_text(session.metadata), 100)))
    return fields


# `asm sessions search` lives in its own module; it belongs to this group.
app.command("search")(search)
