"""Long-poll wake latency: from an append to the reader waiting in ``wait_for_events``.

Shapes (issue 3):

* **One process** (memory and SQLite stores): a reader task waits past its cursor; another
  task appends one event. Two latencies per wake: from the ``append_event`` call to the
  reader's return ("from call", what a watcher sees after a producer decides to write; on
  SQLite it includes the durable commit) and from the append's acknowledgement to the reader's
  return ("from ack", the wake-up itself).
* **Across processes** (PostgreSQL; SQLite for comparison): a child process appends one event
  every few milliseconds, stamping it with ``time.perf_counter()`` (``CLOCK_MONOTONIC``, shared
  by all processes) just before ``append_event``; the parent waits and takes the difference
  when ``wait_for_events`` returns it.

Targets: p50 <= 100 microseconds in one process; p99 <= 2 ms across processes on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

from agent_session_manager.core.events import Event
from agent_session_manager.core.models import Session
from agent_session_manager.store.factory import open_store
from agent_session_manager.store.protocol import SessionStore
from benchmarks._util import machine, now


@dataclass
class WakeFigure:
    samples: int
    p50_us: float
    p99_us: float


def _figure(samples: list[float]) -> WakeFigure:
    ordered = sorted(samples)
    return WakeFigure(
        samples=len(ordered),
        p50_us=statistics.median(ordered) * 1e6,
        p99_us=ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1e6,
    )


async def _in_process(store: SessionStore, wakes: int) -> tuple[WakeFigure, WakeFigure]:
    session = Session(agent_id="bench")
    await store.save_session(session)
    from_call: list[float] = []
    from_ack: list[float] = []
    for n in range(wakes + 20):
        waiter = asyncio.create_task(store.wait_for_events(session.id, after=n, timeout=10))
        for _ in range(3):  # let the reader reach its wait (its first read finds nothing)
            await asyncio.sleep(0)
        await asyncio.sleep(0.0005)
        called = now()
        await store.append_event(Event(type="bench.wake", session_id=session.id, data={"n": n}))
        acked = now()
        got = await waiter
        woke = now()
        assert len(got) == 1, got
        if n >= 20:  # warm-up
            from_call.append(woke - called)
            from_ack.append(woke - acked)
    return _figure(from_call), _figure(from_ack)


_CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from agent_session_manager.core.events import Event
    from agent_session_manager.store.factory import open_store

    async def main(url, session_id, count, gap):
        async with await open_store(url) as store:
            print("ready", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            for n in range(count):
                await asyncio.sleep(gap)
                event = Event(type="bench.wake", session_id=session_id,
                              data={"n": n, "t": time.perf_counter()})
                await store.append_event(event)
                print(n, time.perf_counter(), flush=True)  # acknowledged at

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
    """
)


async def _across(url: str, wakes: int, gap: float) -> tuple[WakeFigure, WakeFigure]:
    async with await open_store(url) as store:
        session = Session(agent_id="bench")
        await store.save_session(session)
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CHILD,
            url,
            session.id,
            str(wakes + 20),
            str(gap),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            assert (await child.stdout.readline()).strip() == b"ready"
            cursor = 0
            # Start waiting before the child starts writing.
            waiter = asyncio.create_task(store.wait_for_events(session.id, after=0, timeout=30))
            await asyncio.sleep(0.05)
            child.stdin.write(b"go\n")
            await child.stdin.drain()
            samples: list[float] = []
            woken: dict[int, float] = {}
            while cursor < wakes + 20:
                got = await waiter
                woke = now()
                assert got, "the wait timed out"
                for event in got:
                    if event.data["n"] >= 20:  # warm-up
                        samples.append(woke - event.data["t"])
                        woken[event.data["n"]] = woke
                cursor = got[-1].sequence_number or cursor
                waiter = asyncio.create_task(
                    store.wait_for_events(session.id, after=cursor, timeout=30)
                )
            waiter.cancel()
            acked = {}
            for line in (await child.stdout.read()).decode().splitlines():
                n, _, at = line.partition(" ")
                acked[int(n)] = float(at)
            await child.wait()
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
    # From the child's acknowledgement; negative when the reader woke before the child's own
    # append returned (the wake-up does not wait for the writer's acknowledgement).
    return _figure(samples), _figure([woke - acked[n] for n, woke in woken.items()])


def _postgres_server() -> str | None:
    from benchmarks.store_append import _postgres_server as server

    return server()


def measure(
    wakes: int = 2_000, across: int = 1_000, gap: float = 0.003, postgres: bool = True
) -> dict[str, tuple[WakeFigure, WakeFigure | None]]:
    """Figures per shape: (from the append call, from its acknowledgement or None)."""
    results: dict[str, tuple[WakeFigure, WakeFigure | None]] = {}

    async def in_process(url: str) -> tuple[WakeFigure, WakeFigure]:
        async with await open_store(url) as store:
            return await _in_process(store, wakes)

    results["memory, one process"] = asyncio.run(in_process("memory://"))
    with tempfile.TemporaryDirectory(prefix="asm_bench_") as folder:
        url = f"sqlite:///{Path(folder) / 'wake.db'}"
        results["SQLite, one process"] = asyncio.run(in_process(url))
        results["SQLite, across processes"] = asyncio.run(_across(url, across, gap))
    server = _postgres_server() if postgres else None
    if server is not None:
        from agent_session_manager.testing.postgres import temporary_database

        with temporary_database(server, prefix="asm_bench") as pg_url:
            results["PostgreSQL, one process"] = asyncio.run(in_process(pg_url))
            results["PostgreSQL, across processes"] = asyncio.run(_across(pg_url, across, gap))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wakes", type=int, default=2_000)
    parser.add_argument("--across", type=int, default=1_000)
    parser.add_argument("--gap", type=float, default=0.003, help="seconds between child appends")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    print(f"## Long-poll wake latency ({machine()}, pid {os.getpid()}, not pinned)\n")
    print("| shape | wakes | from the append call: p50 / p99 | from its ack: p50 / p99 |")
    print("|---|---:|---:|---:|")
    for shape, (call, ack) in measure(
        args.wakes, args.across, args.gap, not args.no_postgres
    ).items():
        ack_text = "-" if ack is None else f"{ack.p50_us:,.0f} / {ack.p99_us:,.0f} µs"
        print(
            f"| {shape} | {call.samples:,} | {call.p50_us:,.0f} / {call.p99_us:,.0f} µs"
            f" | {ack_text} |"
        )


if __name__ == "__main__":
    main()
