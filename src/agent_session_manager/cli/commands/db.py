"""``asm db upgrade``: migrate a store's schema to the newest revision and print that revision.

Stores also migrate when opened; this command lets an operator do it ahead of a deploy, and
fails closed (exit 1, ``schema_too_new``) on a database written by a newer release. The store
modules are imported only when the command runs. Knows the CLI conventions and
``store.factory.upgrade_store``; nothing about how a backend migrates.
"""

from __future__ import annotations

import typer

from agent_session_manager.cli import _output
from agent_session_manager.cli._options import StoreOption
from agent_session_manager.cli._runtime import UsageError, chosen_store_url, run_async
from agent_session_manager.store._urls import hide_password

app = typer.Typer(
    name="db",
    help="Manage the store's database schema.",
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
