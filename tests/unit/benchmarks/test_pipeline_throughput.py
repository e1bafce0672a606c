"""The benchmarks stay runnable: a tiny run of each (figures are not checked here)."""

from __future__ import annotations

import os

import pytest
from benchmarks import pipeline_throughput


def test_pipeline_throughput_benchmark_runs() -> None:
    results = pipeline_throughput.measure(events=2_000, runs=10, repeats=1)
    assert len(results) == 2
    assert all(median > 0 for median, _ in results.values())


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
def test_pipeline_throughput_gives_the_cpus_back(capsys: pytest.CaptureFixture[str]) -> None:
    # `make bench` runs every benchmark in one process: one pinned to a core must not leave
    # the next ones (and the CLIs they start) on that core.
    before = os.sched_getaffinity(0)
    pipeline_throughput.main(["--events", "1000", "--runs", "5", "--repeats", "1"])
    assert "pinned to CPU" in capsys.readouterr().out
    assert os.sched_getaffinity(0) == before
