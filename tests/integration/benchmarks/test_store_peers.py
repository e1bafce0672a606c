"""The peer comparison stays runnable when the peers (the ``bench`` extra) are installed."""

from __future__ import annotations

import pytest
from benchmarks import store_peers


def test_store_peers_benchmark_runs() -> None:
    pytest.importorskip("agents", reason="the bench extra (openai-agents) is not installed")
    pytest.importorskip("langgraph.checkpoint.sqlite", reason="the bench extra is not installed")
    results = store_peers.measure(alone=5, sessions=3, per_session=2)
    assert len(results) == 2
    for row in results.values():
        assert len(row) == 4
        assert all(rate > 0 for rate in row.values())
