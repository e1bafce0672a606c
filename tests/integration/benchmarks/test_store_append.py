"""The store append benchmark stays runnable: a tiny run on SQLite (figures are not checked)."""

from __future__ import annotations

from benchmarks import store_append


def test_store_append_benchmark_runs() -> None:
    results = store_append.measure(events=200, sessions=10, alone=50, postgres=False, repeats=2)
    assert len(results) == 2
    for runs in results.values():
        assert len(runs) == 2
        figure, floor = runs[-1]
        assert figure.events_per_s > 0
        assert floor is not None
        assert floor > 0
        assert figure.bytes_per_event is not None
        assert figure.bytes_per_event > 0
