"""ConcurrencyLimiter: slots released on success, failure, cancel and task crash; FIFO waiters;
a timed-out wait raises ConcurrencyError naming the limit."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_session_manager import ConcurrencyError, ConcurrencyLimiter, ValidationError

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


_LIMITER_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), st.integers(0, 7)),
        st.tuples(st.just("release"), st.integers(0, 20)),
        st.tuples(st.just("cancel"), st.integers(0, 20)),
        st.tuples(st.just("crash"), st.integers(0, 20)),
        st.tuples(st.just("yield"), st.integers(0, 2)),
    ),
    max_size=40,
)


async def _limiter_scenario(limit: int, ops: list[tuple[str, int]]) -> None:
    limiter = ConcurrencyLimiter(max_parallel_runs=limit)
    granted: list[int] = []
    requested = 0
    tasks: list[asyncio.Task[None]] = []
    exits: list[asyncio.Future[str]] = []

    async def hold(number: int, leave: asyncio.Future[str]) -> None:
        async with limiter.run_slot(f"run_{number}"):
            granted.append(number)
            assert limiter.status().active_runs <= limit
            if await leave == "crash":
                raise RuntimeError("task crashed holding a slot")

    for kind, arg in ops:
        if kind == "acquire":
            leave: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            exits.append(leave)
            tasks.append(asyncio.create_task(hold(requested, leave)))
            requested += 1
        elif kind in ("release", "crash") and exits:
            leave = exits[arg % len(exits)]
            if not leave.done():
                leave.set_result(kind)
        elif kind == "cancel" and tasks:
            tasks[arg % len(tasks)].cancel()
        # Let every woken task reach its slot before the next operation, so the order in
        # which holders append is the order in which the limiter granted the slots.
        for _ in range(8 + (arg if kind == "yield" else 0)):
            await asyncio.sleep(0)
        status = limiter.status()
        assert status.active_runs <= limit
    for leave in exits:
        if not leave.done():
            leave.set_result("release")
    await asyncio.gather(*tasks, return_exceptions=True)
    assert limiter.status().active_runs == 0
    assert limiter.status().waiting_runs == 0
    assert granted == sorted(granted)  # first come, first served


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 3), _LIMITER_OPS)
def test_slots_never_exceed_the_limit_never_leak_and_are_fifo(
    limit: int, ops: list[tuple[str, int]]
) -> None:
    asyncio.run(_limiter_scenario(limit, ops))


async def test_a_slot_handed_to_a_waiter_cancelled_at_that_moment_is_passed_on() -> None:
    limiter = ConcurrencyLimiter(max_parallel_runs=1)
    await limiter.acquire_run("holder")
    first = asyncio.create_task(limiter.acquire_run("first"))
    second = asyncio.create_task(limiter.acquire_run("second"))
    await asyncio.sleep(0)
    assert limiter.status().waiting_runs == 2
    limiter.release_run("holder")  # hands the slot to "first"...
    first.cancel()  # ...which is cancelled before it could resume
    await asyncio.gather(first, return_exceptions=True)
    await second  # the slot went on to the next waiter
    assert limiter.status().active_runs == 1
    limiter.release_run("second")
    assert limiter.status().active_runs == 0
