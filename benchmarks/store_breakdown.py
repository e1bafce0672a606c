"""Where the time of a durable append and of a cursor read goes: a diagnostic, not a target.

The figures behind "where the time goes" in docs/benchmarks.md, measured by one command:

* **SQLite append, 100 sessions** (each a task awaiting ``append_event``): CPU per event of the
  event-loop thread and of the writer thread (per-thread CPU clocks), and each statement the
  writer runs (wall and CPU per event, through a timing proxy around its connection). The
  writer's own Python is its thread's CPU minus its statements' CPU.
* **SQLite read of 100 events** after a random cursor (the ``store_read`` databases): the
  hand-off to a reader thread and back (a read that finds nothing) through the store, then
  fetching the rows and turning them into ``Event``s, each timed directly on one thread.
* **PostgreSQL append, 100 sessions in one batch**: wall time per batch of each round trip
  (``BEGIN``, the query that locks the counters and reserves numbers, ``COPY``, ``COMMIT``)
  and the client's CPU per event (the server is another process).

It reaches into the stores' internals (the writer's connection, the append query) on purpose.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_session_manager.core.ids import new_run_id
from agent_session_manager.core.models import Session
from agent_session_manager.store.sql.codec import session_events
from agent_session_manager.store.sqlite import SQLiteSessionStore
from agent_session_manager.store.sqlite import _ops as sqlite_ops
from benchmarks import store_read
from benchmarks._util import machine
from benchmarks.store_append import _append, bench_event


@dataclass
class Timings:
    """Wall and CPU seconds per label, summed."""

    wall: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def _label(sql: str) -> str:
    words = sql.split()
    if words[0] in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"):
        return words[0]
    if words[0] == "UPDATE" and words[1] == "asm_session_sequences":
        return "counter update (reserve)"
    if words[0] == "INSERT" and words[2] == "asm_events":
        return "event insert"
    return f"{words[0]} (other)"


class _TimedConnection:
    """A sqlite3 connection that times ``execute``/``executemany`` by statement kind (in the
    calling thread's CPU clock and in wall time)."""

    def __init__(self, conn: sqlite3.Connection, timings: Timings) -> None:
        self._conn = conn
        self._timings = timings

    def _timed(self, label: str, call: Any, *args: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        result = call(*args)
        if isinstance(result, sqlite3.Cursor) and label == "counter update (reserve)":
            result = _Fetched(result.fetchall())  # RETURNING rows are part of the statement
        self._timings.wall[label] += time.perf_counter() - wall
        self._timings.cpu[label] += time.thread_time() - cpu
        return result

    def execute(self, sql: str, *args: Any) -> Any:
        return self._timed(_label(sql), self._conn.execute, sql, *args)

    def executemany(self, sql: str, rows: Any) -> Any:
        return self._timed(_label(sql), self._conn.executemany, sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _Fetched:
    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchall(self) -> list[Any]:
        return self._rows


def _thread_cpu(thread: threading.Thread) -> float:
    ident = thread.ident
    assert ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(ident))


async def sqlite_append(sessions: int, per_session: int) -> dict[str, float]:
    """Microseconds per event: loop CPU, writer CPU, each writer statement, the writer's Python."""
    with tempfile.TemporaryDirectory(prefix="asm_bench_") as folder:
        async with await SQLiteSessionStore.open(Path(folder) / "bench.db") as store:
            await _append(store, sessions, 5)  # warm-up
            writer = store._writer
            timings = Timings()
            writer._conn = _TimedConnection(writer._conn, timings)  # type: ignore[assignment]
            loop_cpu, writer_cpu = time.thread_time(), _thread_cpu(writer._thread)
            started = time.perf_counter()
            await _append(store, sessions, per_session)
            wall = time.perf_counter() - started
            loop_cpu = time.thread_time() - loop_cpu
            writer_cpu = _thread_cpu(writer._thread) - writer_cpu
    events = sessions * per_session
    figures = {
        "wall (all)": wall,
        "event loop thread, CPU": loop_cpu,
        "writer thread, CPU": writer_cpu,
    }
    for label in sorted(timings.wall):
        figures[f"writer: {label}, wall"] = timings.wall[label]
        figures[f"writer: {label}, CPU"] = timings.cpu[label]
    figures["writer: Python and the rest, CPU"] = writer_cpu - sum(timings.cpu.values())
    return {name: seconds / events * 1e6 for name, seconds in figures.items()}


async def _hand_off(path: Path, session_id: str, reads: int) -> float:
    async with await SQLiteSessionStore.open(path) as store:
        last = await store.latest_sequence(session_id)
        samples = []
        for _ in range(reads):
            started = time.perf_counter()
            found = await store.get_events(session_id, after=last, limit=100)
            samples.append(time.perf_counter() - started)
            assert not found
    return statistics.median(samples) * 1e6


def sqlite_read(events: int, reads: int, folder: Path = store_read.CACHE) -> dict[str, float]:
    """Microseconds per read of 100 events (medians): the thread hand-off, fetch, decode."""
    path = store_read._path(folder, events)
    session_id = store_read.build(path, events)
    hand_off = asyncio.run(_hand_off(path, session_id, reads))
    sql = sqlite_ops._SESSION_EVENTS + " ORDER BY e.sequence_number LIMIT ?"
    rng = random.Random(7)
    fetch, decode = [], []
    conn = sqlite3.connect(path)
    try:
        for _ in range(reads):
            cursor = rng.randrange(events - 100)
            started = time.perf_counter()
            rows = conn.execute(sql, (session_id, cursor, 100)).fetchall()
            fetched = time.perf_counter()
            decoded = session_events(rows, session_id)
            fetch.append(fetched - started)
            decode.append(time.perf_counter() - fetched)
            assert decoded[0].sequence_number == cursor + 1
    finally:
        conn.close()
    return {
        "hand-off to a reader thread and back (an empty read)": hand_off,
        "fetch 100 rows": statistics.median(fetch) * 1e6,
        "turn them into Events": statistics.median(decode) * 1e6,
    }


class _TimedPostgres:
    """An asyncpg connection whose ``fetch`` and ``copy_records_to_table`` are timed."""

    def __init__(self, conn: Any, wall: dict[str, float]) -> None:
        self._conn = conn
        self._wall = wall

    async def _timed(self, label: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await call(*args, **kwargs)
        finally:
            self._wall[label] += time.perf_counter() - started

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        label = "lock, reserve (one query)"
        return await self._timed(label, self._conn.fetch, *args, **kwargs)

    async def copy_records_to_table(self, *args: Any, **kwargs: Any) -> Any:
        return await self._timed("COPY the rows", self._conn.copy_records_to_table, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def _postgres_batches(url: str, sessions: int, batches: int) -> dict[str, float]:
    from agent_session_manager.store import postgres as pg
    from agent_session_manager.store.postgres import _open, _ops

    async with await pg.PostgresSessionStore.open(url) as store:
        made = [Session(agent_id="bench") for _ in range(sessions)]
        for session in made:
            await store.save_session(session)
    conn = await _open._connect(pg.asyncpg_dsn(url), 30.0)
    wall: dict[str, float] = defaultdict(float)
    timed = _TimedPostgres(conn, wall)
    run_id = new_run_id()
    cpu = 0.0
    try:
        for n in range(batches):
            items = [_ops._event_item(bench_event(s.id, run_id, n, "event")) for s in made]
            started, used = time.perf_counter(), time.process_time()
            transaction = conn.transaction()
            await transaction.start()
            wall["BEGIN"] += time.perf_counter() - started
            groups = [[item] for item in items]
            await _ops._append_groups(timed, groups, set(), look_up=False)  # type: ignore[arg-type]
            committing = time.perf_counter()
            await transaction.commit()
            wall["COMMIT"] += time.perf_counter() - committing
            cpu += time.process_time() - used
    finally:
        await conn.close()
    figures = {f"{name}, wall per batch": seconds / batches * 1e6 for name, seconds in wall.items()}
    figures["client CPU per event (store code and asyncpg)"] = cpu / (batches * sessions) * 1e6
    return figures


def postgres_append(sessions: int, batches: int) -> dict[str, float] | None:
    """Microseconds per PostgreSQL batch / event, or None without a reachable server."""
    from benchmarks.store_append import _postgres_server

    server = _postgres_server()
    if server is None:
        return None
    from agent_session_manager.testing.postgres import temporary_database

    with temporary_database(server, prefix="asm_bench") as url:
        return asyncio.run(_postgres_batches(url, sessions, batches))


def _table(title: str, figures: dict[str, float]) -> None:
    print(f"| {title} | µs |")
    print("|---|---:|")
    for name, value in figures.items():
        print(f"| {name} | {value:,.1f} |")
    print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--per-session", type=int, default=500)
    parser.add_argument("--read-events", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=2_000)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    print(f"## Where the time goes ({machine()}, pid {os.getpid()}, not pinned)\n")
    appended = asyncio.run(sqlite_append(args.sessions, args.per_session))
    _table(f"SQLite, {args.sessions} sessions appending, per event", appended)
    _table(
        f"SQLite, read of 100 events at {args.read_events:,} events, median per read",
        sqlite_read(args.read_events, args.reads),
    )
    if not args.no_postgres:
        figures = postgres_append(args.sessions, args.batches)
        if figures is not None:
            _table(f"PostgreSQL, batches of {args.sessions} appends", figures)


if __name__ == "__main__":
    main()
