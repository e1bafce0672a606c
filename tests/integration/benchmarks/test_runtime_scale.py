"""The runtime scale benchmark stays runnable: a tiny in-process run of both scenarios (figures
are not checked here; see docs/benchmarks.md)."""

from __future__ import annotations

from pathlib import Path

from benchmarks import runtime_scale


async def test_runtime_scale_benchmark_runs(tmp_path: Path) -> None:
    runs = await runtime_scale._runs(sessions=5, events=10, db=tmp_path / "runs.db")
    assert runs["completed"] == runs["runs"] == 5
    assert runs["events"] == 5 * 14  # message_sent, run_started, 10 deltas, turn, run_completed
    idle = await runtime_scale._idle(servers_count=20, db=tmp_path / "idle.db")
    assert idle["servers"] == 20
    assert idle["peak_rss_mb"] > 0
