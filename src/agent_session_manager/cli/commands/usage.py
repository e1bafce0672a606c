"""``asm usage``: token usage and cost summed from the runs, per session, agent or provider.

The summary comes from ``agent_session_manager.maintenance.usage``; this module turns options
into filters and prints a table or JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from agent_session_manager.cli import _output
from agent_session_manager.cli._options import JsonOption, StoreOption
from agent_session_manager.cli._runtime import UsageError, open_cli_store, run_async
from agent_session_manager.cli.commands._filters import SinceOption, UntilOption, parse_when

if TYPE_CHECKING:
    from datetime import datetime

    from agent_session_manager.maintenance.usage import UsageReport, UsageRow

__all__ = ["usage"]


def usage(
    by: Annotated[
        str,
        typer.Option("--by", metavar="GROUP", help="Group by session, agent or provider."),
    ] = "session",
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent", metavar="A", help="Only this agent's sessions.", show_default=False
        ),
    ] = None,
    session: Annotated[
        list[str] | None,
        typer.Option(
            "--session", metavar="ID", help="Only these sessions (repeatable).", show_default=False
        ),
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """Token usage and cost of runs, summed per session, agent or provider.

    Costs are the runs' recorded cost_usd; runs without one are counted under NO COST.
    --since/--until select runs by when they were created (recent runs of old sessions count).

    Examples:
      asm usage --by provider
      asm usage --by agent --since 7d --json
    """
    grouping = by.strip().lower()
    if grouping not in ("session", "agent", "provider"):
        raise UsageError(f"invalid --by '{by}': choose session, agent or provider")
    run_async(
        _usage(
            grouping,
            agent,
            tuple(session) if session else None,
            parse_when(since, "--since"),
            parse_when(until, "--until"),
            as_json,
            store,
        )
    )


async def _usage(
    by: str,
    agent: str | None,
    sessions: tuple[str, ...] | None,
    since: datetime | None,
    until: datetime | None,
    as_json: bool,
    store_url: str | None,
) -> None:
    from agent_session_manager.maintenance.usage import usage_summary

    async with open_cli_store(store_url) as store:
        report = await usage_summary(
            store, by=by, agent_id=agent, session_ids=sessions, since=since, until=until
        )
    if as_json:
        _output.print_json(report.to_dict())
        return
    _print(report)


def _print(report: UsageReport) -> None:
    if not report.rows:
        _output.err("no runs found")
        return

    def cells(row: UsageRow) -> list[str]:
        return [
            row.key,
            f"{row.sessions:,}",
            f"{row.runs:,}",
            f"{row.usage.input_tokens:,}",
            f"{row.usage.output_tokens:,}",
            f"{row.usage.cache_read_tokens:,}",
            f"{row.usage.total_tokens:,}",
            f"${row.cost_usd:.4f}",
            f"{row.runs_without_cost:,}",
        ]

    _output.print_table(
        [
            str(report.by).upper(),
            "SESSIONS",
            "RUNS",
            "INPUT",
            "OUTPUT",
            "CACHE READ",
            "TOTAL",
            "COST",
            "NO COST",
        ],
        [*(cells(row) for row in report.rows), cells(report.total)],
    )
