"""Run every benchmark in turn (``make bench``)."""

from __future__ import annotations

from benchmarks import (
    adapter_overhead,
    pipeline_throughput,
    runtime_scale,
    store_append,
    store_peers,
    store_read,
    store_wake,
)

if __name__ == "__main__":
    pipeline_throughput.main([])
    runtime_scale.main([])
    store_append.main([])
    store_read.main([])
    store_wake.main([])
    store_peers.main([])
    adapter_overhead.main([])
