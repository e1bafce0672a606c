"""The benchmarks stay runnable: a tiny run of each (figures are not checked here)."""

from __future__ import annotations

from benchmarks import pipeline_throughput


def test_pipeline_throughput_benchmark_runs() -> None:
    results = pipeline_throughput.measure(events=2_000, runs=10, repeats=1)
    assert len(results) == 2
    assert all(median > 0 for median, _ in results.values())
