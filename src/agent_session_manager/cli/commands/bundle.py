"""``asm export`` and ``asm import``: move one session between stores as a JSONL bundle.

``export`` writes the bundle to stdout or, with ``-o FILE``, to a file written atomically
(temporary file, then rename). ``import`` reads a bundle file (``-`` for stdin) and refuses to
overwrite an existing session unless ``--replace``. The store is opened inside each command;
the bundle format itself lives in ``agent_session_manager.maintenance.bundle``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agent_session_manager.cli import _output
from agent_session_manager.cli._options import JsonOption, StoreOption
from agent_session_manager.cli._runtime import CliError, open_cli_store, run_async
from agent_session_manager.cli.commands._filters import ArtifactsOption

if TYPE_CHECKING:
    from agent_session_manager.store.protocol import SessionStore

__all__ = ["export", "import_", "open_with_artifacts"]


@contextlib.asynccontextmanager
async def open_with_artifacts(
    store_url: str | None, artifacts: str | None
) -> AsyncIterator[SessionStore]:
    """The CLI store, wrapped with a filesystem artifact store when ``--artifacts`` is given."""
    async with open_cli_store(store_url) as store:
        if artifacts is None:
            yield store
            return
        from agent_session_manager.artifacts import CompositeStore, FilesystemArtifactStore

        yield CompositeStore(store, FilesystemArtifactStore(artifacts))


def export(
    session_id: Annotated[str, typer.Argument(metavar="SESSION_ID", help="Session id (ses_…).")],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write to FILE instead of stdout.",
            show_default=False,
        ),
    ] = None,
    artifacts: ArtifactsOption = None,
    store: StoreOption = None,
) -> None:
    """Export a session with its runs and events as a JSONL bundle.

    The first line is a header with the format version, then the session, its runs, its events
    in sequence order (and its artifacts with --artifacts), then an end line with the counts.

    Examples:
      asm export ses_0192… -o session.jsonl
      asm export ses_0192… | gzip > session.jsonl.gz
    """
    run_async(_export(session_id, output, artifacts, store))


async def _export(
    session_id: str, output: str | None, artifacts: str | None, store_url: str | None
) -> None:
    from agent_session_manager.maintenance.bundle import export_session

    async with open_with_artifacts(store_url, artifacts) as store:
        lines = export_session(store, session_id, include_artifacts=artifacts is not None)
        if output is None or output == "-":
            async for line in lines:
                _output.out(line, nl=False)
            return
        text = "".join([line async for line in lines])
    await asyncio.to_thread(_write_atomically, Path(output), text)
    _output.err(f"exported {session_id} to {output}")


def _write_atomically(path: Path, text: str) -> None:
    path = path.expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None


def import_(
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="Bundle written by asm export ('-': stdin).")
    ],
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Replace a session with the same id (deleting it first)."),
    ] = False,
    artifacts: ArtifactsOption = None,
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """Import a session bundle; ids, sequence numbers and timestamps are kept.

    A session with the same id is refused unless --replace is given. The whole bundle is
    checked before anything is written.

    Examples:
      asm import session.jsonl --store sqlite:///other.db
      asm export ses_0192… | asm import - --store postgresql://127.0.0.1/asm
    """
    run_async(_import(file, replace, artifacts, as_json, store))


async def _import(
    file: str, replace: bool, artifacts: str | None, as_json: bool, store_url: str | None
) -> None:
    from agent_session_manager.maintenance.bundle import import_session

    text = await asyncio.to_thread(_read_text, file)
    async with open_with_artifacts(store_url, artifacts) as store:
        result = await import_session(store, text, replace=replace)
    if as_json:
        _output.print_json(
            {
                "session_id": result.session_id,
                "runs": result.runs,
                "events": result.events,
                "artifacts": result.artifacts,
                "replaced": result.replaced,
            }
        )
        return
    verb = "replaced" if result.replaced else "imported"
    extra = f", {result.artifacts} artifacts" if result.artifacts else ""
    _output.out(f"{verb} {result.session_id}: {result.runs} runs, {result.events} events{extra}")


def _read_text(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"no such file: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {file}: {exc}") from None
