"""The time-breakdown diagnostic stays runnable: tiny runs on SQLite (figures not checked)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from benchmarks import store_breakdown


def test_the_append_breakdown_accounts_for_the_writer_statements() -> None:
    figures = asyncio.run(store_breakdown.sqlite_append(sessions=5, per_session=20))
    for name in (
        "event loop thread, CPU",
        "writer thread, CPU",
        "writer: BEGIN, CPU",
        "writer: COMMIT, CPU",
        "writer: counter update (reserve), CPU",
        "writer: event insert, CPU",
    ):
        assert figures[name] > 0, name
    # The statements ran on the writer thread: their CPU is part of its CPU, the rest is Python.
    assert figures["writer: Python and the rest, CPU"] >= -0.01 * figures["writer thread, CPU"]


def test_the_read_breakdown_runs(tmp_path: Path) -> None:
    figures = store_breakdown.sqlite_read(events=1_000, reads=20, folder=tmp_path)
    assert set(figures) == {
        "hand-off to a reader thread and back (an empty read)",
        "fetch 100 rows",
        "turn them into Events",
    }
    assert all(value > 0 for value in figures.values())


def test_the_postgres_breakdown_times_each_round_trip(postgres_server: str) -> None:
    figures = store_breakdown.postgres_append(sessions=5, batches=3)
    assert figures is not None
    assert set(figures) == {
        "BEGIN, wall per batch",
        "lock, reserve (one query), wall per batch",
        "COPY the rows, wall per batch",
        "COMMIT, wall per batch",
        "client CPU per event (store code and asyncpg)",
    }
    assert all(value > 0 for value in figures.values())
