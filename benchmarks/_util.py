"""Shared benchmark helpers: pin to one core, time repeats, print a table row."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable


def pin_to_one_core() -> str:
    """Run on a single CPU so figures mean 'one core', whatever the machine has."""
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


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
