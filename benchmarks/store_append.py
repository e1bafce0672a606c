"""Durable append throughput of the SQL stores through the public API, with the raw driver floor.

Shapes (issue 3): 100 concurrent sessions, each a task awaiting ``append_event`` one event at a
time (so every event is acknowledged durably before the next one of its session), on SQLite and
PostgreSQL; one writer alone on SQLite. Two payloads (``--payload``): ``event`` (the default),
events of ~500 bytes as JSON (``Event.to_dict()``, with a run id and ~200 bytes of data), the
issue's "~500-byte events"; ``data``, ~500 bytes of data (events of ~760 bytes, no run id), the
stricter shape measured before schema revision 0002. Beside each store
figure, the "raw floor" is what the bare driver does with the same rows and the same number of
transactions the store committed: the cost of the store's own work is the gap. Storage is the
size of the database files (SQLite, after a checkpoint) or of the events table with its indexes
(PostgreSQL) divided by the events stored.

Targets: SQLite >= 40,000 events/s with 100 sessions and >= 5,000 alone; PostgreSQL >= 25,000
with 100 sessions; <= 600 bytes per event on both.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sqlite3
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from agent_session_manager.core.events import Event
from agent_session_manager.core.ids import new_run_id, new_session_id
from agent_session_manager.core.models import Session
from agent_session_manager.store.factory import open_store
from agent_session_manager.store.protocol import SessionStore
from benchmarks._util import machine, now

#: ~430 characters of text: the encoded data is ~500 bytes, a typical assistant message chunk.
TEXT = ("The quick brown fox jumps over the lazy dog; " * 10)[:430]
#: Characters of ``TEXT`` per payload: "event" makes the whole event ~500 bytes of JSON.
CONTENT = {"event": 135, "data": 430}
PAYLOADS = tuple(CONTENT)


def _data(n: int, payload: str = "data") -> dict[str, Any]:
    content = TEXT[: CONTENT[payload]]
    return {"role": "assistant", "content": content, "index": n, "model": "bench-model-1"}


def bench_event(session_id: str, run_id: str, n: int, payload: str) -> Event:
    """The ``n``-th event of a session in the ``payload`` shape (see the module docstring)."""
    if payload == "event":
        return Event(
            type="message_received", session_id=session_id, run_id=run_id, data=_data(n, payload)
        )
    return Event(type="message_received", session_id=session_id, data=_data(n, payload))


def event_json_bytes(payload: str) -> int:
    """Size of one event of ``payload`` as JSON, as a user would export it."""
    event = bench_event(new_session_id(), new_run_id(), 1234, payload).with_sequence(1234)
    return len(orjson.dumps(event.to_dict()))


@dataclass
class Figure:
    events_per_s: float
    transactions: int | None = None
    bytes_per_event: float | None = None


async def _append(
    store: SessionStore, sessions: int, per_session: int, payload: str = "event"
) -> tuple[float, int]:
    made = [Session(agent_id="bench") for _ in range(sessions)]
    for session in made:
        await store.save_session(session)
    before = _transactions(store)

    async def one(session: Session) -> None:
        run_id = new_run_id()
        for n in range(per_session):
            await store.append_event(bench_event(session.id, run_id, n, payload))

    started = now()
    await asyncio.gather(*(one(s) for s in made))
    elapsed = now() - started
    total = sessions * per_session
    for session in made[:3]:
        assert await store.latest_sequence(session.id) == per_session
    return total / elapsed, _transactions(store) - before


def _transactions(store: SessionStore) -> int:
    if hasattr(store, "write_transactions"):  # PostgreSQL
        return int(store.write_transactions)
    writer = getattr(store, "_writer", None)  # SQLite's writer thread
    return int(getattr(writer, "transactions", 0))


async def _sqlite(sessions: int, per_session: int, payload: str = "event") -> Figure:
    with tempfile.TemporaryDirectory(prefix="asm_bench_") as folder:
        path = Path(folder) / "bench.db"
        async with await open_store(f"sqlite:///{path}") as store:
            rate, transactions = await _append(store, sessions, per_session, payload)
        size = _checkpointed_size(path)
        return Figure(rate, transactions, size / (sessions * per_session))


def _checkpointed_size(path: Path) -> int:
    """Bytes of the database file and its WAL after moving the WAL into the file."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return sum(p.stat().st_size for p in path.parent.iterdir())


def _sqlite_floor(total: int, transactions: int, payload: str = "event") -> float:
    """Bare sqlite3: the same rows in the same number of transactions, same pragmas."""
    with tempfile.TemporaryDirectory(prefix="asm_bench_") as folder:
        conn = sqlite3.connect(Path(folder) / "floor.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(
            "CREATE TABLE e (session_id TEXT, sequence_number INTEGER, id TEXT, type TEXT,"
            " timestamp INTEGER, data TEXT, PRIMARY KEY (session_id, sequence_number))"
        )
        conn.execute("CREATE UNIQUE INDEX e_id ON e (id)")
        rows = [
            (
                f"ses_{i % 100}",
                i,
                f"evt_{i:032d}",
                "message_received",
                i,
                orjson.dumps(_data(i, payload)),
            )
            for i in range(total)
        ]
        per = max(1, total // max(1, transactions))
        started = now()
        for start in range(0, total, per):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO e VALUES (?, ?, ?, ?, ?, ?)", rows[start : start + per])
            conn.execute("COMMIT")
        elapsed = now() - started
        conn.close()
        return total / elapsed


async def _postgres(
    server: str, sessions: int, per_session: int, payload: str = "event"
) -> tuple[Figure, float]:
    import asyncpg

    from agent_session_manager.testing.postgres import temporary_database

    with temporary_database(server, prefix="asm_bench") as url:
        async with await open_store(url) as store:
            rate, transactions = await _append(store, sessions, per_session, payload)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("VACUUM ANALYZE asm_events")
            size = await conn.fetchval("SELECT pg_total_relation_size('asm_events')")
            floor = await _postgres_floor(conn, sessions * per_session, transactions, payload)
        finally:
            await conn.close()
    return Figure(rate, transactions, size / (sessions * per_session)), floor


async def _postgres_floor(conn: Any, total: int, transactions: int, payload: str) -> float:
    """Bare asyncpg: the same rows in the same number of transactions (one unnest INSERT each)."""
    await conn.execute(
        "CREATE TABLE e (session_id text, sequence_number bigint, id text, type text,"
        " timestamp bigint, data text, PRIMARY KEY (session_id, sequence_number))"
    )
    await conn.execute("CREATE UNIQUE INDEX e_id ON e (id)")
    per = max(1, total // max(1, transactions))
    columns = [
        [f"ses_{i % 100}" for i in range(total)],
        list(range(total)),
        [f"evt_{i:032d}" for i in range(total)],
        ["message_received"] * total,
        list(range(total)),
        [orjson.dumps(_data(i, payload)).decode() for i in range(total)],
    ]
    sql = (
        "INSERT INTO e SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[],"
        " $5::bigint[], $6::text[])"
    )
    started = now()
    for start in range(0, total, per):
        async with conn.transaction():
            await conn.execute(sql, *(c[start : start + per] for c in columns))
    return total / (now() - started)


def _postgres_server() -> str | None:
    from agent_session_manager.testing.postgres import postgres_server_url

    url = postgres_server_url()
    try:
        from agent_session_manager.testing.postgres import _probe, _run

        return None if _run(_probe(url)) is not None else url
    except ImportError:
        return None


def measure(
    events: int = 50_000,
    sessions: int = 100,
    alone: int = 10_000,
    postgres: bool = True,
    payload: str = "event",
    repeats: int = 1,
) -> dict[str, list[tuple[Figure, float | None]]]:
    """Figures per shape, one per repeat: (store figure, raw driver floor in events/s). The
    shapes take turns, so a slow spell of a shared machine touches all of them alike."""
    per_session = max(1, events // sessions)
    server = _postgres_server() if postgres else None
    results: dict[str, list[tuple[Figure, float | None]]] = {}
    for _ in range(repeats):
        gc.collect()
        figure = asyncio.run(_sqlite(sessions, per_session, payload))
        floor = _sqlite_floor(sessions * per_session, figure.transactions or 1, payload)
        shape = f"SQLite, {sessions} sessions x {per_session:,} events"
        results.setdefault(shape, []).append((figure, floor))
        gc.collect()
        figure = asyncio.run(_sqlite(1, alone, payload))
        floor = _sqlite_floor(alone, figure.transactions or 1, payload)
        results.setdefault(f"SQLite, 1 writer alone x {alone:,} events", []).append((figure, floor))
        if server is not None:
            gc.collect()
            pg, pg_floor = asyncio.run(_postgres(server, sessions, per_session, payload))
            shape = f"PostgreSQL, {sessions} sessions x {per_session:,} events"
            results.setdefault(shape, []).append((pg, pg_floor))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--alone", type=int, default=10_000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--payload", choices=PAYLOADS, default="event")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each shape (default 3)")
    args = parser.parse_args(argv)
    print(
        f"## Durable append ({machine()}, pid {os.getpid()}, not pinned), payload"
        f" {args.payload!r}: events of {event_json_bytes(args.payload)} bytes as JSON,"
        f" {args.repeats} runs of each shape\n"
    )
    print(
        "| shape | events/s, median (best) | transactions | raw driver floor, same"
        " transactions, median | bytes/event |"
    )
    print("|---|---:|---:|---:|---:|")
    measured = measure(
        args.events, args.sessions, args.alone, not args.no_postgres, args.payload, args.repeats
    )
    for shape, runs in measured.items():
        rates = [figure.events_per_s for figure, _ in runs]
        floors = [floor for _, floor in runs if floor is not None]
        figure = runs[-1][0]
        floor_text = f"{statistics.median(floors):,.0f}" if floors else "-"
        size = "-" if figure.bytes_per_event is None else f"{figure.bytes_per_event:,.0f}"
        print(
            f"| {shape} | {statistics.median(rates):,.0f} ({max(rates):,.0f}) |"
            f" {figure.transactions or '-'} | {floor_text} | {size} |"
        )


if __name__ == "__main__":
    main()
