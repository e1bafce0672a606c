"""``asm db``: the store's database as a whole.

``asm db upgrade`` migrates a store's schema to the newest revision and prints that revision.
Stores also migrate when opened; this command lets an operator do it ahead of a deploy, and
fails closed (exit 1, ``schema_too_new``) on a database written by a newer release.
``asm db stats`` prints what the store holds and the bytes it takes
(``maintenance.storage_stats``). The store modules are imported only when a command runs.
Knows the CLI conventions; nothing about how a backend migrates or counts.
"""

from __future__ import annotations

import typer

from agent_session_manager.cli import _output
from agent_session_manager.cli._options import JsonOption, StoreOption
from agent_session_manager.cli._runtime import (
    UsageError,
    chosen_store_url,
    describe_store,
    open_cli_store,
    run_async,
)
from agent_session_manager.store.urls import hide_password

__all__ = ["app", "stats", "upgrade"]

app = typer.Typer(
    name="db",
    help="The store's database: schema upgrades and storage statistics.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("upgrade")
def upgrade(store: StoreOption = None) -> None:
    """Migrate the store to the newest schema revision and print it.

    Works on SQLite and PostgreSQL stores (memory:// has no schema). A database written by a
    newer release is refused and left untouched.

    Examples:
      asm db upgrade
      asm db upgrade --store sqlite:///./asm.db
      asm db upgrade --store postgresql://asm@db.internal/asm
    """
    run_async(_upgrade(store))


async def _upgrade(url: str | None) -> None:
    from agent_session_manager.core.errors import ValidationError
    from agent_session_manager.store.factory import default_store_url, upgrade_store

    chosen = chosen_store_url(url) or default_store_url()
    try:
        before, after = await upgrade_store(chosen)
    except ValidationError as exc:
        raise UsageError(f"invalid store: {exc.message}") from None
    where = hide_password(chosen)
    if before == after:
        _output.err(f"{where} is already at revision {after} (head)")
    else:
        _output.err(f"upgraded {where} from {before or 'an empty database'} to {after} (head)")
    _output.out(after)


@app.command("stats")
def stats(as_json: JsonOption = False, store: StoreOption = None) -> None:
    """How many sessions, runs and events the store holds, and the bytes they take.

    Counts are exact. Stored bytes include indexes: on SQLite the database pages in use (pages
    freed by deletes are kept by the file for reuse and not counted), on PostgreSQL the store's
    tables with their indexes and TOAST. A memory:// store has no byte figure.

    Examples:
      asm db stats
      asm db stats --store postgresql://asm@db.internal/asm --json
    """
    run_async(_stats(as_json, store))


async def _stats(as_json: bool, url: str | None) -> None:
    from agent_session_manager.maintenance.storage import storage_stats

    async with open_cli_store(url) as store:
        found = await storage_stats(store)
        where = describe_store(store, url)
    if as_json:
        _output.print_json({"store": where, **found.to_dict()})
        return
    stored = found.stored_bytes
    per_event = found.bytes_per_event
    _output.print_fields(
        [
            ("store", where),
            ("sessions", f"{found.sessions:,}"),
            ("runs", f"{found.runs:,}"),
            ("events", f"{found.events:,}"),
            ("stored", "-" if stored is None else f"{_output.fmt_bytes(stored)} ({stored:,} B)"),
            ("per event", "-" if per_event is None else f"{per_event:,.0f} B"),
        ]
    )
