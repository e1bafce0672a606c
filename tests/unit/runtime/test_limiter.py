"""ConcurrencyLimiter: slots released on success, failure, cancel and task crash; FIFO waiters;
a timed-out wait raises ConcurrencyError naming the limit."""

from __future__ import annotations

import asyncio

import pytest

from agent_session_manager import ConcurrencyError, ValidationError
from agent_session_manager.runtime import ConcurrencyLimiter

pytestmark = pytest.mark.timeout(10)


async def test_released_on_success() -> None:
    limiter = ConcurrencyLimiter(max_parallel_runs=1)
    async with limiter.run_slot("run_1"):
        assert limiter.status().active_runs == 1
        assert limiter.status().available_run_slots == 0
    assert limiter.status().active_runs == 0


async def test_released_on_failure() -> None:
    limiter = ConcurrencyLimiter(max_parallel_runs=1)
    with pytest.raises(ValueError, match="boom"):
        async with limiter.run_slot("run_1"):
            raise ValueError("boom")
    assert limiter.status().active_runs == 0


async def test_released_on_cancel_of_holder_and_of_waiter() -> None:
    limiter = ConcurrencyLimiter(max_parallel_runs=1)
    holding = asyncio.Event()

    async def hold(run_id: str) -> None:
        async with limiter.run_slot(run_id):
            holding.set()
            await asyncio.Event().wait()

    holder = asyncio.create_task(hold("run_1"))
    await holding.wait()
    waiter = asyncio.create_task(hold("run_2"))
    await asyncio.sleep(0)
    assert limiter.status().waiting_runs == 1
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert limiter.status().waiting_runs == 0
    holder.cancel()
    await asyncio.gather(holder, return_exceptions=True)
    assert limiter.status().active_runs == 0


async def test_released_on_task_crash() -> None:
    limiter = ConcurrencyLimiter(max_parallel_sessions=1)

    async def crash() -> None:
        async with limiter.session_slot("ses_1"):
            raise RuntimeError("task crashed")

    task = asyncio.create_task(crash())
    results = await asyncio.gather(task, return_exceptions=True)
    assert isinstance(results[0], RuntimeError)
    assert limiter.status().active_sessions == 0
    async with limiter.session_slot("ses_2"):
        pass


async def test_waiters_are_served_fifo() -> None:
    limiter = ConcurrencyLimiter(max_parallel_runs=1)
    order: list[str] = []
    release = asyncio.Event()

    async def take(run_id: str) -> None:
        async with limiter.run_slot(run_id):
            order.append(run_id)
            await release.wait()

    first = asyncio.create_task(take("run_0"))
    await asyncio.sleep(0)
    rest = []
    for i in range(1, 6):
        rest.append(asyncio.create_task(take(f"run_{i}")))
        await asyncio.sleep(0)
    assert limiter.status().waiting_runs == 5
    release.set()
    await asyncio.gather(first, *rest)
    assert order == [f"run_{i}" for i in range(6)]


async def test_timeout_raises_a_clear_concurrency_error() -> None:
    limiter = ConcurrencyLimiter(max_parallel_sessions=1, max_parallel_runs=2)
    await limiter.acquire_run("run_1")
    await limiter.acquire_run("run_2")
    with pytest.raises(ConcurrencyError) as info:
        await limiter.acquire_run("run_3", timeout=0.01)
    assert info.value.code == "max_runs_exceeded"
    assert "Maximum parallel runs limit (2)" in info.value.message
    assert info.value.details["limit"] == 2
    assert limiter.status().waiting_runs == 0
    await limiter.acquire_session("ses_1")
    with pytest.raises(ConcurrencyError) as info:
        await limiter.acquire_session("ses_2", timeout=0)
    assert info.value.code == "max_sessions_exceeded"
    assert "Maximum parallel sessions limit (1)" in info.value.message


async def test_same_key_is_reentrant_and_unlimited_never_waits() -> None:
    limiter = ConcurrencyLimiter(max_parallel_sessions=1, max_parallel_runs=None)
    async with limiter.session_slot("ses_1"), limiter.session_slot("ses_1"):
        assert limiter.status().active_sessions == 1
    assert limiter.status().active_sessions == 0
    for i in range(100):
        await limiter.acquire_run(f"run_{i}", session_id="ses_1")
    assert limiter.status().available_run_slots is None
    limiter.release_session_runs("ses_1")
    assert limiter.status().active_runs == 0


def test_invalid_limits() -> None:
    with pytest.raises(ValidationError):
        ConcurrencyLimiter(max_parallel_runs=0)
