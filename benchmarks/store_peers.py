"""Durable append against the peers a user would otherwise pick, side by side in one run.

Each system persists one ~500-byte JSON item at a time, awaited before the next one of its
session: our SQLite store (``append_event``), the OpenAI Agents SDK ``SQLiteSession.add_items``
with one item, LangGraph's ``AsyncSqliteSaver.aput_writes`` with one write (how LangGraph
persists a step's pending writes), and the raw ``sqlite3`` floor (one INSERT per transaction,
WAL, ``synchronous = NORMAL``). Shapes: one writer alone, and 100 sessions (threads) at once.
Every system runs on a fresh file in a temporary folder with its own default settings.

The peers are the ``bench`` extra (``pip install -e '.[dev,bench]'``, what ``make bench`` does);
they are imported only here. Target (issue 3): our 100-session figure >= 10x ``SQLiteSession``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from benchmarks._util import machine, now
from benchmarks.store_append import _data, _sqlite, _sqlite_floor


async def _timed(
    sessions: int, per_session: int, one: Callable[[int, int], Awaitable[None]]
) -> float:
    started = now()
    await asyncio.gather(*(_loop(s, per_session, one) for s in range(sessions)))
    return sessions * per_session / (now() - started)


async def _loop(session: int, per_session: int, one: Callable[[int, int], Awaitable[None]]) -> None:
    for n in range(per_session):
        await one(session, n)


async def _openai(folder: Path, sessions: int, per_session: int) -> float:
    from agents import SQLiteSession

    path = folder / "openai.db"
    made = [SQLiteSession(f"session-{s}", path) for s in range(sessions)]

    async def one(session: int, n: int) -> None:
        await made[session].add_items([_data(n)])  # type: ignore[list-item]

    try:
        return await _timed(sessions, per_session, one)
    finally:
        for session in made:
            session.close()


async def _langgraph(folder: Path, sessions: int, per_session: int) -> float:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(str(folder / "langgraph.db")) as saver:
        await saver.setup()

        async def one(session: int, n: int) -> None:
            config = {
                "configurable": {
                    "thread_id": f"thread-{session}",
                    "checkpoint_ns": "",
                    "checkpoint_id": "checkpoint-1",
                }
            }
            await saver.aput_writes(config, [("messages", _data(n))], task_id=f"task-{n}")  # type: ignore[arg-type]

        return await _timed(sessions, per_session, one)


def measure(
    alone: int = 2_000, sessions: int = 100, per_session: int = 20
) -> dict[str, dict[str, float]]:
    """events/s per shape and system."""
    shapes = {
        f"1 writer alone x {alone:,}": (1, alone),
        f"{sessions} sessions x {per_session:,}": (sessions, per_session),
    }
    results: dict[str, dict[str, float]] = {}
    for shape, (count, each) in shapes.items():
        row: dict[str, float] = {}
        gc.collect()
        ours = asyncio.run(_sqlite(count, each, "data"))  # the peers store the same 500 bytes
        row["agent-session-manager SQLite"] = ours.events_per_s
        for name, run in (
            ("OpenAI SQLiteSession", _openai),
            ("LangGraph AsyncSqliteSaver", _langgraph),
        ):
            gc.collect()
            with tempfile.TemporaryDirectory(prefix="asm_bench_") as folder:
                row[name] = asyncio.run(run(Path(folder), count, each))
        row["raw sqlite3, 1 event per transaction"] = _sqlite_floor(
            count * each, count * each, "data"
        )
        results[shape] = row
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alone", type=int, default=2_000)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--per-session", type=int, default=20)
    args = parser.parse_args(argv)
    try:
        results = measure(args.alone, args.sessions, args.per_session)
    except ImportError as exc:
        print(f"(peers not installed: {exc}; pip install -e '.[dev,bench]')")
        return
    print(f"## Durable append against peers ({machine()}, pid {os.getpid()}, not pinned)\n")
    systems = list(next(iter(results.values())))
    print("| shape | " + " | ".join(systems) + " |")
    print("|---|" + "---:|" * len(systems))
    for shape, row in results.items():
        print(f"| {shape} | " + " | ".join(f"{row[s]:,.0f}" for s in systems) + " |")
    for shape, row in results.items():
        ours = row["agent-session-manager SQLite"]
        print(
            f"\n{shape}: ours / SQLiteSession = {ours / row['OpenAI SQLiteSession']:.1f}x,"
            f" ours / AsyncSqliteSaver = {ours / row['LangGraph AsyncSqliteSaver']:.1f}x"
        )


if __name__ == "__main__":
    main()
