"""Cursor reads from a large SQLite store through the public API: 100 events after a cursor.

Shape (issue 3): ``get_events(session_id, after=cursor, limit=100)`` returning ``Event`` objects,
at random cursors, in a database of 1,000,000 events and in one of 10,000; each database holds
one session with all its events (the deepest index and the longest log a cursor can land in).
Reported: p50 and p99 latency of one read, and the 1M / 10k ratio of the p50s, with the
database files in the OS page cache (each is read once before measuring). The two databases
are read in turns, so a slow spell of a shared machine touches both alike.

Two payloads (``--payload``, as in ``store_append``): ``event`` (the default), events of ~500
bytes as JSON with a run id, the issue's "~500-byte events"; ``data``, 500 bytes of data
(events of ~760 bytes), the stricter shape measured before.

The databases are built through a direct insert path (rows encoded exactly as the store
encodes them, written with ``executemany`` in large transactions, the counter set at the end)
so the benchmark stays quick; they are kept under ``.benchmarks/`` (git-ignored) and reused
when present. Targets: p50 <= 400 microseconds at 1M events, ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sqlite3
import statistics
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from agent_session_manager.core.clock import utcnow
from agent_session_manager.core.events import Event
from agent_session_manager.core.ids import new_run_id
from agent_session_manager.core.models import Session
from agent_session_manager.store.sql.migrations import HEAD_REVISION
from agent_session_manager.store.sqlite import SQLiteSessionStore
from agent_session_manager.store.sqlite import _ops as sqlite_ops
from benchmarks._util import machine, now
from benchmarks.store_append import PAYLOADS, _data, event_json_bytes

#: Where the databases are kept between runs (git-ignored).
CACHE = Path(".benchmarks")
_CHUNK = 20_000


@dataclass
class ReadFigure:
    events: int
    p50_us: float
    p99_us: float
    reads: int


def _path(folder: Path, events: int, payload: str = "event") -> Path:
    # Named after the schema revision: a file kept from an older revision is not reused.
    return folder / f"store_read_{events}_{payload}_r{HEAD_REVISION}.db"


async def _create(path: Path) -> Session:
    session = Session(agent_id="bench")
    async with await SQLiteSessionStore.open(path) as store:  # creates the schema
        await store.save_session(session)
    return session


def build(path: Path, events: int, payload: str = "event") -> str:
    """Create (or reuse) a store file with one session of ``events`` events of ``payload``
    (see ``store_append``: ``event``, ~500-byte events with a run id; ``data``, 500 bytes of
    data); return the session's id."""
    marker = path.with_suffix(".session")
    if path.exists() and marker.exists():
        return marker.read_text().strip()
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    session = asyncio.run(_create(path))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")  # a throwaway build: speed over durability
        start = utcnow() - timedelta(days=1)
        run_id = new_run_id() if payload == "event" else None
        (key,) = conn.execute(
            "SELECT session_key FROM asm_session_sequences WHERE session_id = ?", (session.id,)
        ).fetchone()
        for first in range(0, events, _CHUNK):
            rows = []
            for n in range(first, min(events, first + _CHUNK)):
                event = Event(
                    type="message_received",
                    session_id=session.id,
                    run_id=run_id,
                    data=_data(n, payload),
                    timestamp=start + timedelta(microseconds=n),
                )
                row = sqlite_ops._event_row(event)[1]
                rows.append((key, *row[1:], n + 1))
            conn.execute("BEGIN")
            conn.executemany(sqlite_ops._INSERT_EVENT, rows)
            conn.execute("COMMIT")
        conn.execute(
            "UPDATE asm_session_sequences SET last_sequence = ? WHERE session_id = ?",
            (events, session.id),
        )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("ANALYZE")
    finally:
        conn.close()
    marker.write_text(session.id)
    return session.id


def _warm_page_cache(path: Path) -> None:
    """Read the file once, so every run measures a database in the OS page cache (a store in
    use is; a cold one measures the disk instead)."""
    with path.open("rb") as file:
        while file.read(1 << 24):
            pass


async def _reads(databases: list[tuple[Path, str, int]], reads: int) -> list[ReadFigure]:
    """``reads`` timed reads of each database (path, session id, events), taking turns, so a
    slow spell of a shared machine touches every database alike (the ratio stays fair)."""
    rng = random.Random(7)
    async with contextlib.AsyncExitStack() as stack:
        stores = []
        for path, session_id, events in databases:
            await asyncio.to_thread(_warm_page_cache, path)
            store = await stack.enter_async_context(await SQLiteSessionStore.open(path))
            for _ in range(200):  # warm the reader threads, connections and page cache
                await store.get_events(session_id, after=rng.randrange(events - 100), limit=100)
            stores.append((store, session_id, events))
        samples: list[list[float]] = [[] for _ in stores]
        for _ in range(reads):
            for (store, session_id, events), taken in zip(stores, samples, strict=True):
                cursor = rng.randrange(events - 100)
                started = now()
                got = await store.get_events(session_id, after=cursor, limit=100)
                taken.append(now() - started)
                assert len(got) == 100
                assert got[0].sequence_number == cursor + 1
    figures = []
    for (_, _, events), taken in zip(stores, samples, strict=True):
        taken.sort()
        figures.append(
            ReadFigure(
                events=events,
                p50_us=statistics.median(taken) * 1e6,
                p99_us=taken[int(len(taken) * 0.99) - 1] * 1e6,
                reads=reads,
            )
        )
    return figures


def measure(
    large: int = 1_000_000,
    small: int = 10_000,
    reads: int = 3_000,
    folder: Path = CACHE,
    payload: str = "event",
) -> tuple[ReadFigure, ReadFigure, float]:
    """(figure at ``small``, figure at ``large``, build seconds of what was not cached)."""

    started = now()
    paths = {n: _path(folder, n, payload) for n in (small, large)}
    ids = {n: build(paths[n], n, payload) for n in (small, large)}
    built = now() - started

    figures = asyncio.run(_reads([(paths[n], ids[n], n) for n in (small, large)], reads))
    return figures[0], figures[1], built


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=3_000)
    parser.add_argument("--payload", choices=PAYLOADS, default="event")
    args = parser.parse_args(argv)
    small, large, built = measure(args.events, args.small, args.reads, payload=args.payload)
    print(
        f"## Cursor reads, SQLite ({machine()}, pid {os.getpid()}, not pinned),"
        f" payload {args.payload!r}: events of {event_json_bytes(args.payload)} bytes as JSON\n"
    )
    print(f"(databases built or checked in {built:.1f} s, kept under {CACHE}/)\n")
    print("| database | reads | p50 | p99 |")
    print("|---|---:|---:|---:|")
    for figure in (small, large):
        print(
            f"| {figure.events:,} events | {figure.reads:,} | {figure.p50_us:,.0f} µs"
            f" | {figure.p99_us:,.0f} µs |"
        )
    print(
        f"\nratio of p50s ({large.events:,} / {small.events:,}): {large.p50_us / small.p50_us:.2f}"
    )


if __name__ == "__main__":
    main()
