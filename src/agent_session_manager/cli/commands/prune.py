"""``asm prune``: apply a retention policy, or with ``--dry-run`` only report what it would delete.

The report (and the deletion) come from ``agent_session_manager.maintenance.retention``; this
module only turns options into a policy and the report into lines or JSON. Parts the store
cannot delete (single runs or events, when it lacks the protocol's ``delete_runs`` and
``delete_events``) are reported and make the command exit with status 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from agent_session_manager.cli import _output
from agent_session_manager.cli._options import JsonOption, StoreOption
from agent_session_manager.cli._runtime import CliError, UsageError, run_async
from agent_session_manager.cli.commands._filters import ArtifactsOption

if TYPE_CHECKING:
    from agent_session_manager.maintenance.retention import RetentionPolicy, RetentionReport

__all__ = ["prune"]


def prune(
    ttl_days: Annotated[
        float | None,
        typer.Option(
            "--ttl-days",
            metavar="N",
            help="Delete finished sessions not updated for N days (runs, events, artifacts).",
            show_default=False,
        ),
    ] = None,
    keep_runs: Annotated[
        int | None,
        typer.Option(
            "--keep-runs",
            metavar="N",
            help="Keep each session's last N runs; delete older finished runs and their events.",
            show_default=False,
        ),
    ] = None,
    max_events: Annotated[
        int | None,
        typer.Option(
            "--max-events",
            metavar="N",
            help="Prune each session's oldest events beyond N (streamed chunks and usage "
            "updates first; lifecycle and terminal events are kept).",
            show_default=False,
        ),
    ] = None,
    exempt_tag: Annotated[
        list[str] | None,
        typer.Option(
            "--exempt-tag",
            metavar="T",
            help="Never touch sessions with this tag (repeatable; default: pinned).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only report what would be deleted.")
    ] = False,
    artifacts: ArtifactsOption = None,
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """Delete old sessions, runs and events by a retention policy (try --dry-run first).

    Examples:
      asm prune --ttl-days 90 --dry-run
      asm prune --ttl-days 30 --keep-runs 20 --max-events 5000
      asm prune --ttl-days 30 --artifacts ~/.local/share/agent-session-manager/artifacts
    """
    policy = _policy(ttl_days, keep_runs, max_events, exempt_tag)
    run_async(_prune(policy, dry_run, artifacts, as_json, store))


def _policy(
    ttl_days: float | None,
    keep_runs: int | None,
    max_events: int | None,
    exempt_tags: list[str] | None,
) -> RetentionPolicy:
    from agent_session_manager.core.errors import ValidationError
    from agent_session_manager.maintenance.retention import RetentionPolicy

    if ttl_days is None and keep_runs is None and max_events is None:
        raise UsageError("give at least one of --ttl-days, --keep-runs, --max-events")
    try:
        return RetentionPolicy(
            ttl_days=ttl_days,
            keep_last_runs=keep_runs,
            max_events_per_session=max_events,
            exempt_tags=tuple(exempt_tags) if exempt_tags is not None else ("pinned",),
        )
    except ValidationError as exc:
        raise UsageError(exc.message.replace("_", "-")) from None


async def _prune(
    policy: RetentionPolicy,
    dry_run: bool,
    artifacts: str | None,
    as_json: bool,
    store_url: str | None,
) -> None:
    from agent_session_manager.cli.commands.bundle import open_with_artifacts
    from agent_session_manager.maintenance.retention import apply_retention, plan_retention

    async with open_with_artifacts(store_url, artifacts) as store:
        if dry_run:
            report = await plan_retention(store, policy)
        else:
            report = await apply_retention(store, policy)
    if as_json:
        _output.print_json(report.to_dict())
    else:
        _print_report(report)
    if report.not_applied:
        parts = ", ".join(sorted(report.not_applied))
        raise CliError(f"not applied ({parts}): {next(iter(report.not_applied.values()))}")


def _print_report(report: RetentionReport) -> None:
    if report.dry_run:
        verb = "would delete"
    elif report.not_applied:
        verb = "not all applied; the policy selects"
    else:
        verb = "deleted"
    totals = report.totals()
    _output.out(
        f"{'dry run: ' if report.dry_run else ''}{verb} {totals['sessions']} sessions, "
        f"{totals['runs']} runs, {totals['events']} events, {totals['artifacts']} artifacts "
        f"(~{_output.fmt_bytes(totals['bytes_estimate'])})"
    )
    if report.sessions:
        _output.print_table(
            ["SESSION", "STATUS", "AGENT", "UPDATED (UTC)", "RUNS", "EVENTS", "ARTIFACTS"],
            [
                [
                    s.session_id,
                    s.status,
                    s.agent_id,
                    _output.fmt_time(s.updated_at),
                    str(s.runs),
                    str(s.events),
                    str(s.artifacts),
                ]
                for s in report.sessions
            ],
        )
    if report.runs:
        _output.print_table(
            ["SESSION", "RUN", "EVENTS"],
            [[r.session_id, r.run_id, str(r.events)] for r in report.runs],
            title="older runs",
        )
    if report.events:
        _output.print_table(
            ["SESSION", "EVENTS PRUNED", "EVENTS LEFT"],
            [[p.session_id, str(len(p.event_ids)), str(p.remaining)] for p in report.events],
            title="events over the limit",
        )
    if report.orphaned_artifacts:
        _output.out(f"{len(report.orphaned_artifacts)} orphaned artifacts (session gone)")
