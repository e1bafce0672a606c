"""``store/sql/filters.py``: the statements and rows each SQL dialect gets for the same filters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent_session_manager import Run, RunStatus, Session, SessionStatus, ValidationError
from agent_session_manager.store._idcodec import RUN_ID_PREFIX, encode_id
from agent_session_manager.store.postgres._ops import POSTGRES
from agent_session_manager.store.sql.codec import SESSION_EVENT_COLUMNS, to_micros
from agent_session_manager.store.sql.filters import (
    event_filters,
    run_filters,
    run_row,
    session_events_sql,
    session_filters,
    session_row,
)
from agent_session_manager.store.sqlite._ops import SQLITE

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
NO_SESSION_FILTERS = {
    "status": None,
    "agent_id": None,
    "tags": (),
    "created_after": None,
    "created_before": None,
    "limit": 50,
    "cursor": None,
}
NO_EVENT_FILTERS = {
    "after": 0,
    "before": None,
    "limit": None,
    "run_id": None,
    "types": None,
    "since": None,
    "until": None,
}


def test_every_session_filter_in_sqlite() -> None:
    sql, params = session_filters(
        SQLITE,
        status=SessionStatus.ACTIVE,
        agent_id="agent",
        tags=["a", "b", "a"],
        created_after=WHEN,
        created_before=WHEN,
        limit=10,
        cursor="s-9",
    )
    tag = (
        "EXISTS (SELECT 1 FROM json_each(asm_sessions.record, '$.tags') WHERE json_each.value = ?)"
    )
    assert sql == (
        "SELECT record FROM asm_sessions WHERE status = ? AND agent_id = ?"
        f" AND created_at >= ? AND created_at < ? AND id < ? AND {tag} AND {tag}"
        " ORDER BY id DESC LIMIT ?"
    )
    micros = to_micros(WHEN, "when")
    assert params == ["active", "agent", micros, micros, "s-9", "a", "b", 10]


def test_every_session_filter_in_postgresql_numbers_its_parameters() -> None:
    sql, params = session_filters(
        POSTGRES, **{**NO_SESSION_FILTERS, "agent_id": "agent", "tags": "x", "cursor": "s-9"}
    )
    assert sql == (
        'SELECT record FROM asm_sessions WHERE agent_id = $1 AND id COLLATE "C" < $2'
        " AND (record::jsonb -> 'tags') @> jsonb_build_array($3::text)"
        ' ORDER BY id COLLATE "C" DESC LIMIT $4'
    )
    assert params == ["agent", "s-9", "x", 50]


def test_no_limit_is_a_bound_minus_one_in_sqlite_and_left_out_in_postgresql() -> None:
    sqlite_sql, sqlite_params = session_filters(SQLITE, **{**NO_SESSION_FILTERS, "limit": None})
    assert sqlite_sql == "SELECT record FROM asm_sessions ORDER BY id DESC LIMIT ?"
    assert sqlite_params == [-1]
    pg_sql, pg_params = session_filters(POSTGRES, **{**NO_SESSION_FILTERS, "limit": None})
    assert pg_sql == 'SELECT record FROM asm_sessions ORDER BY id COLLATE "C" DESC'
    assert pg_params == []


def test_run_filters() -> None:
    assert run_filters(SQLITE, "s-1", status=RunStatus.RUNNING, limit=None) == (
        "SELECT record FROM asm_runs WHERE session_id = ? AND status = ?"
        " ORDER BY created_at, id LIMIT ?",
        ["s-1", "running", -1],
    )
    assert run_filters(POSTGRES, "s-1", status=None, limit=5) == (
        'SELECT record FROM asm_runs WHERE session_id = $1 ORDER BY created_at, id COLLATE "C"'
        " LIMIT $2",
        ["s-1", 5],
    )


def test_the_session_events_base_has_the_cursor_as_second_parameter() -> None:
    assert session_events_sql(SQLITE) == (
        f"SELECT {SESSION_EVENT_COLUMNS} FROM asm_events AS e WHERE e.session_key ="
        " (SELECT session_key FROM asm_session_sequences WHERE session_id = ?)"
        " AND e.sequence_number > ?"
    )
    assert session_events_sql(POSTGRES).endswith(
        "WHERE session_id = $1) AND e.sequence_number > $2"
    )


def test_every_event_filter_in_both_dialects() -> None:
    filters = {
        "after": 3,
        "before": 90,
        "limit": 100,
        "run_id": "run-1",
        "types": ["b", "a", "b"],
        "since": WHEN,
        "until": WHEN,
    }
    micros = to_micros(WHEN, "when")
    run = encode_id("run-1", RUN_ID_PREFIX)
    sqlite = event_filters(SQLITE, "BASE", "s-1", **filters)  # type: ignore[arg-type]
    assert sqlite == (
        "BASE AND e.sequence_number < ? AND e.run_id = ? AND e.type IN (?,?)"
        " AND e.timestamp >= ? AND e.timestamp < ? ORDER BY e.sequence_number LIMIT ?",
        ["s-1", 3, 90, run, "a", "b", micros, micros, 100],
    )
    pg = event_filters(POSTGRES, "BASE", "s-1", **filters)  # type: ignore[arg-type]
    assert pg == (
        "BASE AND e.sequence_number < $3 AND e.run_id = $4 AND e.type = ANY($5::text[])"
        " AND e.timestamp >= $6 AND e.timestamp < $7 ORDER BY e.sequence_number LIMIT $8",
        ["s-1", 3, 90, run, ["a", "b"], micros, micros, 100],
    )


def test_no_event_filter_leaves_the_base_and_its_order() -> None:
    assert event_filters(SQLITE, "BASE", "s-1", **NO_EVENT_FILTERS) == (  # type: ignore[arg-type]
        "BASE ORDER BY e.sequence_number LIMIT ?",
        ["s-1", 0, -1],
    )
    assert event_filters(POSTGRES, "BASE", "s-1", **NO_EVENT_FILTERS) == (  # type: ignore[arg-type]
        "BASE ORDER BY e.sequence_number",
        ["s-1", 0],
    )


def test_no_types_match_nothing() -> None:
    filters = {**NO_EVENT_FILTERS, "types": []}
    assert event_filters(SQLITE, "BASE", "s-1", **filters) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"after": -1}, "after must be a non-negative integer"),
        ({"before": True}, "before must be a non-negative integer"),
        ({"limit": 0}, "limit must be a positive integer"),
        ({"run_id": 7}, "run_id must be a string"),
    ],
)
def test_event_filters_are_checked(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        event_filters(SQLITE, "BASE", "s-1", **{**NO_EVENT_FILTERS, **change})  # type: ignore[arg-type]


def test_postgresql_text_refuses_nul_and_over_wide_values_sqlite_takes_them() -> None:
    nul = Session(agent_id="a\x00b")
    wide = Run(session_id="s" * 65)
    assert session_row(SQLITE, nul)[1] == "a\x00b"
    assert run_row(SQLITE, wide)[1] == "s" * 65
    with pytest.raises(ValidationError, match="session agent_id must not contain NUL"):
        session_row(POSTGRES, nul)
    with pytest.raises(ValidationError, match="run session_id is longer than 64"):
        run_row(POSTGRES, wide)
    with pytest.raises(ValidationError, match="tag must not contain NUL"):
        session_filters(POSTGRES, **{**NO_SESSION_FILTERS, "tags": ["a\x00"]})


def test_rows_hold_the_indexed_columns_and_the_record() -> None:
    session = Session(agent_id="agent", created_at=WHEN, updated_at=WHEN)
    row = session_row(POSTGRES, session)
    assert row[:5] == (
        session.id,
        "agent",
        str(session.status),
        to_micros(WHEN, "w"),
        to_micros(WHEN, "w"),
    )
    assert Session.model_validate_json(row[5]) == session
    run = Run(session_id=session.id, created_at=WHEN)
    assert run_row(SQLITE, run)[:4] == (run.id, session.id, "pending", to_micros(WHEN, "w"))
    with pytest.raises(ValidationError):
        session_row(SQLITE, "not a session")
