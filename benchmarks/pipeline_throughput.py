"""Events per second through the whole pipeline: scripted adapter → validate → redact →
enrich → in-memory store → (no) callback, with no rendering.

Two shapes: one run streaming N events, and C concurrent runs (one session each) sharing N.
Target (issue 2): >= 100,000 events/s on one core for both.
"""

from __future__ import annotations

import argparse
import asyncio
import gc

from agent_session_manager import InMemorySessionStore, Scenario, ScriptedAdapter, SessionManager
from benchmarks._util import machine, now, pinned_to_one_core, repeat

DELTA = "a chunk of streamed assistant text, "  # 36 characters, a typical streamed delta


async def _one_run(events: int) -> float:
    store = InMemorySessionStore()
    manager = SessionManager(store, ScriptedAdapter(Scenario().stream(events, DELTA)))
    started = now()
    result = await manager.run_once("benchmark")
    elapsed = now() - started
    stored = await store.latest_sequence(result.session_id)
    assert result.ok, result.error
    assert stored >= events
    return stored / elapsed


async def _concurrent_runs(events: int, runs: int) -> float:
    store = InMemorySessionStore()
    per_run = events // runs
    manager = SessionManager(store, ScriptedAdapter(Scenario().stream(per_run, DELTA)))
    started = now()
    results = await asyncio.gather(*(manager.run_once("benchmark") for _ in range(runs)))
    elapsed = now() - started
    total = 0
    for result in results:
        assert result.ok, result.error
        total += await store.latest_sequence(result.session_id)
    return total / elapsed


def measure(events: int, runs: int, repeats: int) -> dict[str, tuple[float, float]]:
    def single() -> float:
        gc.collect()
        return asyncio.run(_one_run(events))

    def concurrent() -> float:
        gc.collect()
        return asyncio.run(_concurrent_runs(events, runs))

    return {
        f"1 run x {events:,} events": repeat(single, repeats),
        f"{runs} concurrent runs x {events // runs:,} events": repeat(concurrent, repeats),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with pinned_to_one_core() as pinning:
        print(f"## Pipeline throughput ({machine()}, {pinning})\n")
        print("| shape | events/s (median) | events/s (best) |")
        print("|---|---:|---:|")
        for shape, (median, best) in measure(args.events, args.runs, args.repeats).items():
            print(f"| {shape} | {median:,.0f} | {best:,.0f} |")


if __name__ == "__main__":
    main()
