"""Export and import one session as a portable JSONL bundle.

A bundle is UTF-8 JSON lines: a header ``{"format": "agent-session-manager/session-bundle",
"version": 1, "session_id": …, "exported_at": …}``, then ``{"kind": "session", "record": …}``,
one ``{"kind": "run", …}`` per run (oldest first), one ``{"kind": "event", …}`` per event in
sequence order, optionally ``{"kind": "artifact", "key": …, "data_base64": …}`` lines, and a
trailer ``{"kind": "end", "runs": n, "events": m, "artifacts": k}`` that proves the bundle is
complete. Records are the models' ``to_dict()`` forms, so importing into any store keeps ids,
sequence numbers, timestamps and data identical. Built on the ``SessionStore`` (and
``ArtifactStore``) protocols only; it knows no backend.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from agent_session_manager.artifacts.protocol import ArtifactStore, session_prefix
from agent_session_manager.core.clock import format_timestamp, utcnow
from agent_session_manager.core.errors import (
    ASMError,
    RunNotFound,
    SessionNotFound,
    ValidationError,
)
from agent_session_manager.core.events import Event
from agent_session_manager.core.models import Run, Session
from agent_session_manager.maintenance.query import iter_events
from agent_session_manager.store.protocol import SessionStore

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "IMPORT_BATCH",
    "ImportResult",
    "export_session",
    "export_session_text",
    "import_session",
]

logger = logging.getLogger(__name__)

#: The ``format`` value of a bundle's header line.
BUNDLE_FORMAT = "agent-session-manager/session-bundle"
#: The bundle version this code writes and reads.
BUNDLE_VERSION = 1
#: Events appended per ``append_events`` call on import.
IMPORT_BATCH = 500


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What :func:`import_session` wrote."""

    session_id: str
    runs: int
    events: int
    artifacts: int
    replaced: bool


def _line(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode() + "\n"


async def export_session(
    store: SessionStore, session_id: str, *, include_artifacts: bool = False
) -> AsyncIterator[str]:
    """The bundle of ``session_id`` as lines (each ending in ``\\n``), read page by page.

    Events appended while exporting are left out (the export stops at the sequence number that
    was the latest when it began). ``include_artifacts`` adds the session's artifacts
    (``sessions/<id>/…``, base64) when ``store`` is also an ``ArtifactStore``.
    Raises ``SessionNotFound`` before yielding anything if the session does not exist.
    """
    session = await store.get_session(session_id)
    if include_artifacts and not isinstance(store, ArtifactStore):
        raise ValidationError("include_artifacts needs a store that also holds artifacts")
    last = await store.latest_sequence(session.id)
    runs = await store.list_runs(session.id)
    yield _line(
        {
            "format": BUNDLE_FORMAT,
            "version": BUNDLE_VERSION,
            "session_id": session.id,
            "exported_at": format_timestamp(utcnow()),
        }
    )
    yield _line({"kind": "session", "record": session.to_dict()})
    for run in runs:
        yield _line({"kind": "run", "record": run.to_dict()})
    count = 0
    async for event in iter_events(store, session.id, before=last + 1):
        count += 1
        yield _line({"kind": "event", "record": event.to_dict()})
    artifacts = 0
    if include_artifacts and isinstance(store, ArtifactStore):
        for key in await store.list(session_prefix(session.id)):
            data = await store.get(key)
            artifacts += 1
            yield _line(
                {"kind": "artifact", "key": key, "data_base64": base64.b64encode(data).decode()}
            )
    yield _line({"kind": "end", "runs": len(runs), "events": count, "artifacts": artifacts})


async def export_session_text(
    store: SessionStore, session_id: str, *, include_artifacts: bool = False
) -> str:
    """The whole bundle as one string (convenient for small sessions and tests)."""
    return "".join(
        [
            line
            async for line in export_session(store, session_id, include_artifacts=include_artifacts)
        ]
    )


@dataclass
class _Bundle:
    session: Session
    runs: list[Run]
    events: list[Event]
    artifacts: list[tuple[str, bytes]]


def _bad(message: str, line: int | None = None) -> ValidationError:
    where = f"bundle line {line}: " if line is not None else "bundle: "
    return ValidationError(where + message, details={"line": line} if line else {})


def _parse(lines: Iterable[str]) -> _Bundle:
    session: Session | None = None
    runs: list[Run] = []
    events: list[Event] = []
    artifacts: list[tuple[str, bytes]] = []
    header_seen = ended = False
    number = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if ended:
            raise _bad("content after the end line", number)
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise _bad(f"not JSON ({exc})", number) from None
        if not isinstance(item, dict):
            raise _bad("expected a JSON object", number)
        if not header_seen:
            if item.get("format") != BUNDLE_FORMAT:
                raise _bad(f"not a session bundle (format must be {BUNDLE_FORMAT!r})", number)
            if item.get("version") != BUNDLE_VERSION:
                raise _bad(
                    f"bundle version {item.get('version')!r} is not supported "
                    f"(this release reads version {BUNDLE_VERSION})",
                    number,
                )
            header_seen = True
            continue
        kind = item.get("kind")
        try:
            if kind == "session":
                if session is not None:
                    raise _bad("a second session record", number)
                session = Session.model_validate(item["record"])
            elif kind == "run":
                runs.append(Run.model_validate(item["record"]))
            elif kind == "event":
                events.append(Event.from_dict(item["record"]))
            elif kind == "artifact":
                key = item["key"]
                if not isinstance(key, str):
                    raise _bad("artifact key must be a string", number)
                artifacts.append((key, base64.b64decode(item["data_base64"], validate=True)))
            elif kind == "end":
                counts = (item.get("runs"), item.get("events"), item.get("artifacts", 0))
                if counts != (len(runs), len(events), len(artifacts)):
                    raise _bad(
                        f"the end line counts {counts} but the bundle holds "
                        f"{(len(runs), len(events), len(artifacts))} (runs, events, artifacts)",
                        number,
                    )
                ended = True
            else:
                raise _bad(f"unknown record kind {kind!r}", number)
        except ASMError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise _bad(f"malformed {kind} record ({exc})", number) from None
    if not header_seen:
        raise _bad("empty: no header line")
    if session is None:
        raise _bad("no session record")
    if not ended:
        raise _bad("truncated: no end line")
    _check_consistent(session, runs, events, artifacts)
    return _Bundle(session, runs, events, artifacts)


def _check_consistent(
    session: Session, runs: list[Run], events: list[Event], artifacts: list[tuple[str, bytes]]
) -> None:
    for run in runs:
        if run.session_id != session.id:
            raise _bad(f"run {run.id} belongs to session {run.session_id}, not {session.id}")
    for index, event in enumerate(events, start=1):
        if event.session_id != session.id:
            raise _bad(f"event {event.id} belongs to session {event.session_id}, not {session.id}")
        if event.sequence_number != index:
            # The SessionStore port numbers appended events itself (1, 2, 3, …), so a log with
            # gaps (pruned events) cannot be recreated with the same numbers through it.
            raise _bad(
                f"event {event.id} has sequence number {event.sequence_number}, expected {index}: "
                "only gap-free logs can be imported with their sequence numbers kept"
            )
    prefix = session_prefix(session.id)
    for key, _data in artifacts:
        if not key.startswith(prefix):
            raise _bad(f"artifact {key!r} is not under {prefix!r}")


async def _read_lines(lines: Iterable[str] | AsyncIterable[str]) -> list[str]:
    if isinstance(lines, AsyncIterable):
        return [line async for line in lines]
    if isinstance(lines, str):
        # Only "\n" ends a line: str.splitlines() would also split on U+0085, U+2028 and other
        # separators that JSON strings may contain unescaped.
        return lines.split("\n")
    return list(lines)


async def import_session(
    store: SessionStore,
    lines: Iterable[str] | AsyncIterable[str] | str,
    *,
    replace: bool = False,
) -> ImportResult:
    """Import a bundle (its text, or its lines) into ``store``, ids and numbers unchanged.

    The whole bundle is checked before anything is written. A session with the same id that
    already exists is refused (``ValidationError`` with code ``already_exists``) unless
    ``replace=True``, which deletes it first (with its runs, events and, through a composite
    store, its artifacts). If writing fails half-way, the partly imported session is deleted
    again and the error re-raised. Artifact lines need a store that is also an
    ``ArtifactStore``.
    """
    bundle = _parse(await _read_lines(lines))
    session = bundle.session
    if bundle.artifacts and not isinstance(store, ArtifactStore):
        raise ValidationError(
            "this bundle holds artifacts but the target store has no artifact store "
            "(use a CompositeStore)"
        )
    for run in bundle.runs:
        try:
            stored_run = await store.get_run(run.id)
        except RunNotFound:
            continue
        if stored_run.session_id != session.id:
            raise ValidationError(
                f"run {run.id} already exists in the target store under session "
                f"{stored_run.session_id}",
                code="already_exists",
                details={"run_id": run.id},
            )
    exists = True
    try:
        await store.get_session(session.id)
    except SessionNotFound:
        exists = False
    if exists and not replace:
        raise ValidationError(
            f"session {session.id} already exists in the target store; pass replace=True "
            "(asm import --replace) to overwrite it",
            code="already_exists",
            details={"session_id": session.id},
        )
    if exists:
        await store.delete_session(session.id)
    try:
        await _write(store, bundle)
    except BaseException:
        logger.warning("import of session %s failed; removing what was written", session.id)
        try:
            await store.delete_session(session.id)
        except Exception:  # the original error matters more
            logger.exception("could not remove the partly imported session %s", session.id)
        raise
    return ImportResult(
        session.id, len(bundle.runs), len(bundle.events), len(bundle.artifacts), exists
    )


async def _write(store: SessionStore, bundle: _Bundle) -> None:
    await store.save_session(bundle.session)
    for start in range(0, len(bundle.events), IMPORT_BATCH):
        chunk = bundle.events[start : start + IMPORT_BATCH]
        stored = await store.append_events(chunk)
        for want, got in zip(chunk, stored, strict=True):
            if got.session_id != want.session_id or got.sequence_number != want.sequence_number:
                raise ValidationError(
                    f"event {want.id} is already stored elsewhere in the target store "
                    f"(session {got.session_id}, sequence {got.sequence_number})",
                    code="already_exists",
                    details={"event_id": want.id},
                )
    # Runs after their events: a store refuses events of a run it already holds as ended.
    for run in bundle.runs:
        await store.save_run(run)
    if bundle.artifacts and isinstance(store, ArtifactStore):
        for key, data in bundle.artifacts:
            await store.put(key, data)
