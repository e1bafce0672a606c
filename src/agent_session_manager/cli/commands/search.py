"""``asm sessions search``: find sessions by agent, status, tags, creation time and text, page
by page (``--cursor``).

Filtering is ``agent_session_manager.maintenance.query.search_sessions``; this module parses
options and prints a table or JSON (``{"sessions": […], "next_cursor": …}``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from agent_session_manager.cli import _output
from agent_session_manager.cli._options import JsonOption, StoreOption
from agent_session_manager.cli._runtime import open_cli_store, run_async
from agent_session_manager.cli.commands._filters import (
    SinceOption,
    UntilOption,
    parse_session_status,
    parse_when,
)

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["search"]


def search(
    text: Annotated[
        str | None,
        typer.Argument(
            metavar="[TEXT]",
            help="Case-insensitive text in the id, agent, tags, provider or metadata.",
            show_default=False,
        ),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status", metavar="S", help="Status (repeatable: any of them).", show_default=False
        ),
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent", metavar="A", help="Only this agent's sessions.", show_default=False
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider", metavar="P", help="Only sessions of this provider.", show_default=False
        ),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            metavar="T",
            help="Sessions with this tag (repeatable: all must match).",
            show_default=False,
        ),
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1000, metavar="N", help="At most N.")
    ] = 50,
    cursor: Annotated[
        str | None,
        typer.Option(
            "--cursor",
            metavar="ID",
            help="Continue after this session (the next cursor printed by the previous page).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """Search sessions, newest first, one page at a time.

    Examples:
      asm sessions search --agent coder --since 7d
      asm sessions search "ASM-42" --status completed --status failed --json
    """
    run_async(
        _search(
            text,
            tuple(parse_session_status(value).value for value in status or ()),
            agent,
            provider,
            tuple(tag or ()),
            parse_when(since, "--since"),
            parse_when(until, "--until"),
            limit,
            cursor,
            as_json,
            store,
        )
    )


async def _search(
    text: str | None,
    statuses: tuple[str, ...],
    agent: str | None,
    provider: str | None,
    tags: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
    as_json: bool,
    store_url: str | None,
) -> None:
    from agent_session_manager.maintenance.query import search_sessions

    async with open_cli_store(store_url) as store:
        page = await search_sessions(
            store,
            agent_id=agent,
            status=statuses or None,
            tags=tags,
            since=since,
            until=until,
            text=text,
            provider=provider,
            limit=limit,
            cursor=cursor,
        )
    if as_json:
        _output.print_json(
            {"sessions": [s.to_dict() for s in page.sessions], "next_cursor": page.next_cursor}
        )
        return
    if not page.sessions:
        _output.err("no sessions found")
        return
    _output.print_table(
        ["SESSION", "STATUS", "AGENT", "TAGS", "CREATED (UTC)"],
        [
            [
                s.id,
                str(s.status),
                s.agent_id,
                ",".join(s.tags) or "-",
                _output.fmt_time(s.created_at),
            ]
            for s in page.sessions
        ],
    )
    if page.next_cursor:
        _output.err(f"more: --cursor {page.next_cursor}")
