"""The cursor-read benchmark stays runnable: tiny databases on SQLite (figures not checked)."""

from __future__ import annotations

from pathlib import Path

from benchmarks import store_read


def test_store_read_benchmark_runs_and_reuses_its_databases(tmp_path: Path) -> None:
    small, large, _ = store_read.measure(large=2_000, small=500, reads=20, folder=tmp_path)
    assert (small.events, large.events) == (500, 2_000)
    for figure in (small, large):
        assert figure.reads == 20
        assert 0 < figure.p50_us <= figure.p99_us
    built = sorted(p.name for p in tmp_path.iterdir())
    again = store_read.measure(large=2_000, small=500, reads=20, folder=tmp_path)
    assert again[0].events == 500
    assert sorted(p.name for p in tmp_path.iterdir()) == built
