"""``asm events``: print a session's event log, filtered, optionally following it live.

With ``--follow`` the command keeps long-polling the store (``wait_for_events``) and prints new
events as they are appended, from this or any other process, until Ctrl-C, which exits quietly
with code 130. The store is opened inside the command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from agent_session_manager.cli import _output
from agent_session_manager.cli._live import OutputFormat, make_renderer
from agent_session_manager.cli._options import FormatOption, StoreOption
from agent_session_manager.cli._runtime import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    interrupts,
    open_cli_store,
    run_async,
)

if TYPE_CHECKING:
    from agent_session_manager.rendering import Renderer
    from agent_session_manager.store.protocol import SessionStore

#: Seconds one long-poll waits before re-checking (bounds how late a stop condition is seen).
_WAIT_SECONDS = 2.0
_PAGE = 500


def events(
    session_id: Annotated[str, typer.Argument(metavar="SESSION_ID", help="Session id (ses_…).")],
    after: Annotated[
        int, typer.Option("--after", min=0, metavar="N", help="Only events with sequence > N.")
    ] = 0,
    before: Annotated[
        int | None,
        typer.Option(
            "--before",
            min=1,
            metavar="N",
            help="Only events with sequence < N.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            metavar="N",
            help="At most N events (then stop, also with --follow).",
            show_default=False,
        ),
    ] = None,
    event_type: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            "-t",
            metavar="T",
            help="Only events of this type (repeatable).",
            show_default=False,
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option("--run", metavar="ID", help="Only events of this run.", show_default=False),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-F", help="Keep printing new events until Ctrl-C.")
    ] = False,
    output_format: FormatOption = OutputFormat.COMPACT,
    store: StoreOption = None,
) -> None:
    """Print a session's events in sequence order; filters combine.

    With --follow, keep printing new events (also from other processes) until Ctrl-C.

    Examples:
      asm events ses_0192…
      asm events ses_0192… --type tool_call_started --type tool_call_failed -f verbose
      asm events ses_0192… --follow --after 10 --format jsonl
    """
    types = _check_types(event_type or [])
    code = run_async(
        _events(session_id, after, before, limit, types, run_id, follow, output_format, store)
    )
    raise typer.Exit(code)


def _check_types(values: Sequence[str]) -> tuple[str, ...] | None:
    from agent_session_manager.core.errors import ValidationError
    from agent_session_manager.core.events import validate_event_type

    for value in values:
        try:
            validate_event_type(value)
        except ValidationError:
            raise UsageError(f"invalid event type '{value}'") from None
    return tuple(values) or None


async def _events(
    session_id: str,
    after: int,
    before: int | None,
    limit: int | None,
    types: tuple[str, ...] | None,
    run_id: str | None,
    follow: bool,
    output_format: OutputFormat,
    store_url: str | None,
) -> int:
    renderer = make_renderer(output_format, color=_output.color_enabled())
    async with open_cli_store(store_url) as store:
        session = await store.get_session(session_id)
        if not follow:
            found = await store.get_events(
                session.id, after=after, before=before, limit=limit, run_id=run_id, types=types
            )
            for event in found:
                _write(renderer.render(event))
            _write(renderer.finish())
            return EXIT_OK
        task = asyncio.current_task()
        with interrupts():
            try:
                await _follow(store, renderer, session.id, after, before, limit, types, run_id)
            except asyncio.CancelledError:
                if task is not None:
                    task.uncancel()
                _write(renderer.finish())
                return EXIT_INTERRUPTED
        _write(renderer.finish())
        return EXIT_OK


async def _follow(
    store: SessionStore,
    renderer: Renderer,
    session_id: str,
    cursor: int,
    before: int | None,
    limit: int | None,
    types: tuple[str, ...] | None,
    run_id: str | None,
) -> None:
    """Print events past ``cursor`` as they arrive; return once ``limit`` or ``before`` is met."""
    printed = 0
    while True:
        if limit is not None and printed >= limit:
            return
        page = _PAGE if limit is None else min(_PAGE, limit - printed)
        batch = await store.get_events(
            session_id, after=cursor, before=before, limit=page, run_id=run_id, types=types
        )
        if not batch:
            if before is not None and await store.latest_sequence(session_id) >= before - 1:
                return
            waited = await store.wait_for_events(
                session_id,
                after=cursor,
                timeout=_WAIT_SECONDS,
                run_id=run_id,
                types=types,
                limit=page,
            )
            batch = [e for e in waited if before is None or (e.sequence_number or 0) < before]
            if not batch:
                # Nothing matching yet, or only events past --before: loop to re-check.
                if waited:
                    cursor = max(cursor, max(e.sequence_number or 0 for e in waited))
                continue
        for event in batch:
            _write(renderer.render(event))
            cursor = max(cursor, event.sequence_number or cursor)
            printed += 1


def _write(text: str) -> None:
    if text:
        _output.out(text, nl=False)
