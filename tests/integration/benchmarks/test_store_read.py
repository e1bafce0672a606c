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

    def files() -> dict[str, int]:
        return {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.db")}

    built = files()
    again = store_read.measure(large=2_000, small=500, reads=20, folder=tmp_path)
    assert again[0].events == 500
    assert files() == built  # reused, not rebuilt


def test_store_read_benchmark_keeps_one_database_per_payload(tmp_path: Path) -> None:
    for payload in ("event", "data"):
        small, large, _ = store_read.measure(
            large=1_000, small=500, reads=10, folder=tmp_path, payload=payload
        )
        assert (small.events, large.events) == (500, 1_000)
    names = sorted(p.name for p in tmp_path.glob("*.db"))
    assert len(names) == 4
    assert sum("_event_" in name for name in names) == 2
