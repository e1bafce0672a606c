"""The long-poll wake benchmark stays runnable: a few wakes (figures are not checked)."""

from __future__ import annotations

from benchmarks import store_wake


def test_store_wake_benchmark_runs() -> None:
    results = store_wake.measure(wakes=5, across=3, gap=0.001, postgres=False)
    assert set(results) == {
        "memory, one process",
        "SQLite, one process",
        "SQLite, across processes",
    }
    for from_call, from_ack in results.values():
        assert from_call.samples > 0
        assert from_call.p50_us > 0
        assert from_ack is not None
