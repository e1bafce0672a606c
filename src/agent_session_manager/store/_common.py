"""Checks and encodings shared by every store backend, so they all reject the same bad input.

Knows the domain values and JSON; knows nothing about any database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson

from agent_session_manager.core.errors import ConcurrencyError, ValidationError
from agent_session_manager.core.events import Event, validate_event_type
from agent_session_manager.core.lifecycle import RunStatus
from agent_session_manager.core.models import Run, Session

# Strict JSON: no datetimes, dataclasses or non-string keys smuggled in through orjson defaults.
_JSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def encode_json(value: Any, what: str) -> bytes:
    """Encode ``value`` as strict JSON or raise :class:`ValidationError` naming ``what``."""
    try:
        return orjson.dumps(value, option=_JSON_OPTIONS)
    except TypeError as exc:
        raise ValidationError(f"{what} cannot be encoded as JSON: {exc}") from exc


def check_event(event: object) -> Event:
    """Validate the parts of an event a store relies on; return it typed."""
    if not isinstance(event, Event):
        raise ValidationError(f"expected an Event, got {type(event).__name__}")
    validate_event_type(event.type)
    if not event.session_id:
        raise ValidationError("event session_id must not be empty")
    if not isinstance(event.data, dict):
        raise ValidationError("event data must be a JSON object")
    if not isinstance(event.metadata, dict):
        raise ValidationError("event metadata must be a JSON object")
    check_aware(event.timestamp, f"timestamp of event {event.id}")
    return event


def check_aware(value: object, what: str) -> None:
    """Reject naive datetimes: they cannot be ordered against the stored UTC timestamps."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError(f"{what} must be a timezone-aware datetime, got {value!r}")


def check_session(session: object) -> Session:
    """A session whose free-form fields are JSON (the SQL stores must be able to write it)."""
    if not isinstance(session, Session):
        raise ValidationError(f"expected a Session, got {type(session).__name__}")
    encode_json(session.context, f"context of session {session.id}")
    encode_json(session.metadata, f"metadata of session {session.id}")
    return session


def check_run(run: object) -> Run:
    """A run whose free-form fields are JSON."""
    if not isinstance(run, Run):
        raise ValidationError(f"expected a Run, got {type(run).__name__}")
    for name in ("input", "output", "error", "metadata"):
        encode_json(getattr(run, name), f"{name} of run {run.id}")
    return run


def encode_event_payload(event: Event) -> tuple[bytes, bytes]:
    """JSON of ``data`` and ``metadata``, validated (raises on anything not JSON)."""
    return (
        encode_json(event.data, f"data of event {event.id}"),
        encode_json(event.metadata, f"metadata of event {event.id}"),
    )


def check_limit(limit: int | None, name: str = "limit") -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValidationError(f"{name} must be a positive integer or None, got {limit!r}")


def check_cursor(value: int | None, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValidationError(f"{name} must be a non-negative integer, got {value!r}")


def check_types(types: Sequence[str] | None) -> frozenset[str] | None:
    if types is None:
        return None
    if isinstance(types, str):
        types = (types,)
    return frozenset(validate_event_type(t) for t in types)


def check_timeout(timeout: float) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
        raise ValidationError(f"timeout must be a non-negative number of seconds, got {timeout!r}")


def check_ids(ids: object, what: str) -> tuple[str, ...]:
    """A collection of ids (not a single string), each a non-empty string; duplicates dropped,
    first-seen order kept."""
    if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
        raise ValidationError(f"{what} must be a collection of id strings, got {ids!r}")
    checked = tuple(ids)
    for value in checked:
        if not isinstance(value, str) or not value:
            raise ValidationError(f"{what} must hold non-empty strings, got {value!r}")
    return tuple(dict.fromkeys(checked))


def check_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{what} must be a non-empty string, got {value!r}")
    return value


def check_run_from(run: Run | None, run_from: object) -> RunStatus | None:
    """The ``run_from`` of a guarded ``flush``, checked: a status, and a run to guard."""
    if run_from is None:
        return None
    if run is None:
        raise ValidationError("flush(run_from=...) needs the run it guards")
    try:
        return RunStatus(str(run_from))
    except ValueError:
        raise ValidationError(f"run_from must be a run status, not {run_from!r}") from None


def run_state_changed(run_id: str, expected: RunStatus, found: str | None) -> ConcurrencyError:
    """What a guarded ``flush`` raises when the stored run is not in the status it expects."""
    return ConcurrencyError(
        f"run {run_id} is {found or 'not stored'}, not {expected}: another writer moved it",
        code="run_state_changed",
        details={"id": run_id, "expected": str(expected), "found": found},
    )


#: The stored statuses of a run that has ended (its log is closed).
ENDED_RUN_STATUSES: tuple[str, ...] = tuple(str(s) for s in RunStatus if s.is_terminal)


def run_ended(run_id: str, status: str) -> ConcurrencyError:
    """What an append raises for an event of a run that already ended."""
    return ConcurrencyError(
        f"run {run_id} has ended ({status}); no event may follow its terminal event",
        code="run_ended",
        details={"id": run_id, "status": status},
    )
