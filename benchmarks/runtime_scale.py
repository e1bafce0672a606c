"""Runtime at scale, in one process: many concurrent runs through SessionServers on SQLite, and
many idle SessionServers.

* ``runs``: N sessions, each with its own SessionServer, each running one scripted run of E
  streamed events, all at once, on one SQLite store file. Every run must complete; reported:
  events stored per second and the peak RSS (target: 1,000 x 100 within 300 MB).
* ``idle``: N open SessionServers (sessions created and activated) doing nothing; reported:
  peak RSS (target: 10,000 within 200 MB).

Each scenario runs in a fresh subprocess so its peak RSS (``resource.getrusage``) is its own.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from agent_session_manager import RunStatus, Scenario, ScriptedAdapter, SessionManager
from agent_session_manager.runtime import SessionServer
from agent_session_manager.store.sqlite import SQLiteSessionStore
from benchmarks._util import machine, now

DELTA = "a chunk of streamed assistant text, "


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


async def _open_servers(
    manager: SessionManager, count: int, batch: int = 500
) -> list[SessionServer]:
    servers: list[SessionServer] = []
    for start in range(0, count, batch):
        size = min(batch, count - start)
        servers += await asyncio.gather(*(SessionServer.open(manager) for _ in range(size)))
    return servers


async def _runs(sessions: int, events: int, db: Path) -> dict[str, float]:
    store = await SQLiteSessionStore.open(db)
    try:
        manager = SessionManager(store, ScriptedAdapter(Scenario().stream(events, DELTA)))
        servers = await _open_servers(manager, sessions)
        started = now()
        run_ids = await asyncio.gather(*(s.submit_run("benchmark") for s in servers))
        results = await asyncio.gather(
            *(s.await_run(run_id) for s, run_id in zip(servers, run_ids, strict=True))
        )
        elapsed = now() - started
        completed = sum(r.status is RunStatus.COMPLETED for r in results)
        stored = 0
        for server in servers:
            stored += await store.latest_sequence(server.session_id)
        for server in servers:
            await server.close()
        # Session lifecycle events (created, started) were written before the clock started.
        run_events = stored - 2 * sessions
        return {
            "runs": len(results),
            "completed": completed,
            "events": run_events,
            "seconds": elapsed,
            "events_per_s": run_events / elapsed,
            "peak_rss_mb": _peak_rss_mb(),
        }
    finally:
        await store.close()


async def _idle(servers_count: int, db: Path) -> dict[str, float]:
    store = await SQLiteSessionStore.open(db)
    try:
        manager = SessionManager(store, ScriptedAdapter(Scenario().text("idle")))
        servers = await _open_servers(manager, servers_count)
        gc.collect()
        open_count = sum(not s.status().closed for s in servers)
        peak = _peak_rss_mb()
        for server in servers:
            await server.close()
        return {"servers": open_count, "peak_rss_mb": peak}
    finally:
        await store.close()


def _child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["runs", "idle"])
    parser.add_argument("--sessions", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--servers", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="asm-bench-scale-") as tmp:
        db = Path(tmp) / "scale.db"
        if args.scenario == "runs":
            out = asyncio.run(_runs(args.sessions, args.events, db))
        else:
            out = asyncio.run(_idle(args.servers, db))
    print(json.dumps(out))


def measure(sessions: int, events: int, servers: int) -> dict[str, dict[str, float]]:
    """Run both scenarios, each in its own subprocess; return their figures."""
    figures: dict[str, dict[str, float]] = {}
    for scenario, extra in (
        ("runs", ["--sessions", str(sessions), "--events", str(events)]),
        ("idle", ["--servers", str(servers)]),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.runtime_scale", "--child", scenario, *extra],
            check=True,
            capture_output=True,
            text=True,
        )
        figures[scenario] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--servers", type=int, default=10_000)
    args = parser.parse_args(argv)
    figures = measure(args.sessions, args.events, args.servers)
    runs, idle = figures["runs"], figures["idle"]
    print(f"## Runtime scale ({machine()}, SQLite store, one process)\n")
    print("| scenario | result | events/s | peak RSS |")
    print("|---|---|---:|---:|")
    print(
        f"| {args.sessions:,} SessionServers x 1 concurrent run x {args.events} events "
        f"| {runs['completed']:,.0f}/{runs['runs']:,.0f} completed, {runs['events']:,.0f} events "
        f"in {runs['seconds']:.1f} s | {runs['events_per_s']:,.0f} | {runs['peak_rss_mb']:.0f} MB |"
    )
    print(
        f"| {args.servers:,} idle SessionServers | {idle['servers']:,.0f} open | - "
        f"| {idle['peak_rss_mb']:.0f} MB |"
    )


if __name__ == "__main__":
    main()
