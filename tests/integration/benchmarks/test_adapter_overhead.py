"""The adapter overhead benchmark stays runnable (its CLI-free part; figures are not checked)."""

from __future__ import annotations

from benchmarks import adapter_overhead


def test_line_latency_part_runs() -> None:
    p50, p99 = adapter_overhead.line_latency(20)
    assert 0 < p50 <= p99
