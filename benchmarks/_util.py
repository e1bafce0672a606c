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
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"


def repeat(measure: Callable[[], float], times: int) -> tuple[float, float]:
    """Run ``measure`` (returning a rate) ``times`` times; return (median, best)."""
    rates = [measure() for _ in range(times)]
    return statistics.median(rates), max(rates)


def now() -> float:
    return time.perf_counter()
