"""Shared benchmark helpers: pin to one core, time repeats, print a table row."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def pinned_to_one_core() -> Iterator[str]:
    """Run the block on a single CPU so its figures mean 'one core', whatever the machine has;
    yields how it ran. The previous affinity comes back afterwards: threads and child processes
    started later inherit it, and ``make bench`` runs every benchmark in one process."""
    if not hasattr(os, "sched_setaffinity"):
        yield "not pinned (no sched_setaffinity)"
        return
    before = os.sched_getaffinity(0)
    cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield f"pinned to CPU {cpu}"
    finally:
        os.sched_setaffinity(0, before)


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]},"
        f" reference loop {reference_loop_ms():.0f} ms"
    )


def reference_loop_ms() -> float:
    """How fast this interpreter runs right now: the best of 5 runs of a fixed pure-Python loop
    (a million additions), in milliseconds. A shared VM's speed moves from day to day and within
    a day; the figures bound by Python work move with it, so every benchmark prints this."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best * 1000


def repeat(measure: Callable[[], float], times: int) -> tuple[float, float]:
    """Run ``measure`` (returning a rate) ``times`` times; return (median, best)."""
    rates = [measure() for _ in range(times)]
    return statistics.median(rates), max(rates)


def now() -> float:
    return time.perf_counter()
