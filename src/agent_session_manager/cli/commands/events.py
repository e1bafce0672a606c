"""``asm events``: print a session's event log, filtered, optionally following it live.

Reading and following are ``follow_events`` (the library's one log-following iterator); this
module only checks the options and prints. With ``--follow`` new events are printed as they are
appended, from this or any other process, until ``--limit`` or ``--before`` is reached or
Ctrl-C, which exits quietly with code 130. The store is opened inside the command.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
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
    from agent_session_manager.core.events import Event
    from agent_session_manager.rendering import Renderer

__all__ = ["events"]


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
    from agent_session_manager.store.follow import follow_events

    renderer = make_renderer(output_format, color=_output.color_enabled())
    async with open_cli_store(store_url) as store:
        session = await store.get_session(session_id)
        found = follow_events(
            store,
            session.id,
            after=after,
            before=before,
            run_id=run_id,
            types=types,
            limit=limit,
            follow=follow,
        )
        if not follow:
            await _print(found, renderer)
            return EXIT_OK
        task = asyncio.current_task()
        with interrupts():
            try:
                await _print(found, renderer)
            except asyncio.CancelledError:
                if task is not None:
                    task.uncancel()
                _write(renderer.finish())
                return EXIT_INTERRUPTED
        return EXIT_OK


async def _print(found: AsyncIterator[Event], renderer: Renderer) -> None:
    async for event in found:
        _write(renderer.render(event))
    _write(renderer.finish())


def _write(text: str) -> None:
    if text:
        _output.out(text, nl=False)
