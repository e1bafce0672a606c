"""The queries both SQL stores filter alike, spelled for each by a small ``Dialect`` value.

The SQLite and PostgreSQL stores list sessions, runs and a session's events with the same
filters over the same tables; they differ only in how a few things are written (bound
parameters, "any of" a list, the tag match, how ids sort, "no limit") and in how strictly text
is checked (PostgreSQL also refuses NUL characters and over-wide values). Each store describes
those differences once as a :class:`Dialect` and builds its statements and session/run rows
here, so a filter is written once. It knows the tables of ``schema.py`` and the domain values;
nothing about either driver, connections, threads or tasks. Appends do not come through here:
each store keeps its own hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent_session_manager.core.lifecycle import RunStatus, SessionStatus
from agent_session_manager.store._common import (
    check_cursor,
    check_limit,
    check_run,
    check_session,
    check_types,
)
from agent_session_manager.store._idcodec import RUN_ID_PREFIX, encode_id
from agent_session_manager.store.sql.codec import (
    SESSION_EVENT_COLUMNS,
    dump_record,
    run_status,
    session_status,
    to_micros,
)

__all__ = [
    "Dialect",
    "Query",
    "RunRow",
    "SessionRow",
    "TextCheck",
    "event_filters",
    "run_filters",
    "run_row",
    "session_events_sql",
    "session_filters",
    "session_row",
]

#: A backend's check of a text value: ``(value, what it is, the column's width or None)`` → the
#: value, or :class:`ValidationError`.
TextCheck = Callable[[object, str, int | None], str]
#: A row of ``asm_sessions`` (id, agent_id, status, created_at, updated_at, record).
SessionRow = tuple[str, str, str, int, int, str]
#: A row of ``asm_runs`` (id, session_id, status, created_at, record).
RunRow = tuple[str, str, str, int, str]
#: A statement and its parameters.
Query = tuple[str, list[Any]]


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one SQL backend writes what the stores' filters say alike."""

    #: The marker of the ``n``-th bound parameter (from 1): ``?`` or ``$n``.
    placeholder: Callable[[int], str]
    #: ``(column, values, bind)`` → a condition "column is one of values"; ``bind(value)``
    #: adds a parameter and returns its marker.
    any_of: Callable[[str, Sequence[str], Callable[[Any], str]], str]
    #: The condition "the session's record lists the tag", ``{}`` standing for its marker.
    tag_filter: str
    #: The ``id`` column as it sorts bytewise (cursors and ``ORDER BY``).
    id_order: str
    #: The ``LIMIT`` parameter meaning no limit, or None to leave ``LIMIT`` out.
    unlimited: int | None
    #: The backend's check of text values.
    text: TextCheck


def _binder(dialect: Dialect, params: list[Any]) -> Callable[[Any], str]:
    """``bind(value)``: add a parameter to ``params``, return its marker."""
    placeholder = dialect.placeholder

    def bind(value: Any) -> str:
        params.append(value)
        return placeholder(len(params))

    return bind


def _limit(dialect: Dialect, bind: Callable[[Any], str], limit: int | None) -> str:
    if limit is None:
        if dialect.unlimited is None:
            return ""
        limit = dialect.unlimited
    return f" LIMIT {bind(limit)}"


def session_filters(
    dialect: Dialect,
    *,
    status: SessionStatus | None,
    agent_id: str | None,
    tags: Sequence[str],
    created_after: datetime | None,
    created_before: datetime | None,
    limit: int | None,
    cursor: str | None,
) -> Query:
    """``list_sessions``: the records of the matching sessions, newest id first, after the
    ``cursor`` id (the inputs are checked here, on the caller's side)."""
    check_limit(limit)
    text = dialect.text
    params: list[Any] = []
    bind = _binder(dialect, params)
    clauses: list[str] = []
    if status is not None:
        clauses.append(f"status = {bind(str(session_status(status)))}")
    if agent_id is not None:
        clauses.append(f"agent_id = {bind(text(agent_id, 'agent_id', None))}")
    if created_after is not None:
        clauses.append(f"created_at >= {bind(to_micros(created_after, 'created_after'))}")
    if created_before is not None:
        clauses.append(f"created_at < {bind(to_micros(created_before, 'created_before'))}")
    if cursor is not None:
        clauses.append(f"{dialect.id_order} < {bind(text(cursor, 'cursor', None))}")
    for tag in (tags,) if isinstance(tags, str) else dict.fromkeys(tags):
        clauses.append(dialect.tag_filter.format(bind(text(tag, "tag", None))))
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    order = f" ORDER BY {dialect.id_order} DESC"
    return f"SELECT record FROM asm_sessions{where}{order}{_limit(dialect, bind, limit)}", params


def run_filters(
    dialect: Dialect, session_id: object, *, status: RunStatus | None, limit: int | None
) -> Query:
    """``list_runs``: the records of a session's runs, oldest first."""
    check_limit(limit)
    params: list[Any] = [session_id]
    bind = _binder(dialect, params)
    sql = f"SELECT record FROM asm_runs WHERE session_id = {dialect.placeholder(1)}"
    if status is not None:
        sql += f" AND status = {bind(str(run_status(status)))}"
    sql += f" ORDER BY created_at, {dialect.id_order}{_limit(dialect, bind, limit)}"
    return sql, params


def session_events_sql(dialect: Dialect) -> str:
    """One session's events (its id, then the cursor) as rows for ``codec.session_events``.

    The session key is looked up once, so the primary key gives the order (a join made SQLite
    scan the counters and sort: +60 us a read)."""
    return (
        f"SELECT {SESSION_EVENT_COLUMNS} FROM asm_events AS e"
        " WHERE e.session_key = (SELECT session_key FROM asm_session_sequences"
        f" WHERE session_id = {dialect.placeholder(1)})"
        f" AND e.sequence_number > {dialect.placeholder(2)}"
    )


def event_filters(
    dialect: Dialect,
    base: str,
    session_id: object,
    *,
    after: int,
    before: int | None,
    limit: int | None,
    run_id: str | None,
    types: Sequence[str] | None,
    since: datetime | None,
    until: datetime | None,
) -> Query | None:
    """``get_events``: a session's events after ``after`` in order, from ``base`` (the
    dialect's :func:`session_events_sql`, made once); None when no event can match (an empty
    ``types``). The inputs are checked here, on the caller's side."""
    check_cursor(after, "after")
    check_cursor(before, "before")
    check_limit(limit)
    type_set = check_types(types)
    params: list[Any] = [session_id, after]
    bind = _binder(dialect, params)
    sql = base
    if before is not None:
        sql += f" AND e.sequence_number < {bind(before)}"
    if run_id is not None:
        stored = encode_id(dialect.text(run_id, "run_id", None), RUN_ID_PREFIX)
        sql += f" AND e.run_id = {bind(stored)}"
    if type_set is not None:
        if not type_set:
            return None
        sql += f" AND {dialect.any_of('e.type', sorted(type_set), bind)}"
    if since is not None:
        sql += f" AND e.timestamp >= {bind(to_micros(since, 'since'))}"
    if until is not None:
        sql += f" AND e.timestamp < {bind(to_micros(until, 'until'))}"
    sql += f" ORDER BY e.sequence_number{_limit(dialect, bind, limit)}"
    return sql, params


def session_row(dialect: Dialect, session: object) -> SessionRow:
    """The ``asm_sessions`` row of ``session`` (checked: a model, and text the backend takes)."""
    session = check_session(session)
    text = dialect.text
    return (
        text(session.id, "session id", 64),
        text(session.agent_id, "session agent_id", 255),
        str(session.status),
        to_micros(session.created_at, "session created_at"),
        to_micros(session.updated_at, "session updated_at"),
        text(dump_record(session), "session record", None),
    )


def run_row(dialect: Dialect, run: object) -> RunRow:
    """The ``asm_runs`` row of ``run`` (checked: a model, and text the backend takes)."""
    run = check_run(run)
    text = dialect.text
    return (
        text(run.id, "run id", 64),
        text(run.session_id, "run session_id", 64),
        str(run.status),
        to_micros(run.created_at, "run created_at"),
        text(dump_record(run), "run record", None),
    )
