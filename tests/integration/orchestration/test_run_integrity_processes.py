"""Run integrity with two managers in separate OS processes, on a SQLite file and on PostgreSQL.

One run, one executor: two processes executing the same pending run call the provider once. A
cancel from another process stops the executing adapter within 2 s, and no event follows the
terminal one. (PostgreSQL is required under CI=true, like every PostgreSQL test.)
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent_session_manager import (
    RunStatus,
    Scenario,
    ScriptedAdapter,
    SessionManager,
    SessionStore,
    open_store,
)
from agent_session_manager.core.events import TERMINAL_RUN_EVENTS
from agent_session_manager.testing.postgres import postgres_url_or_skip, temporary_database

ROOT = Path(__file__).resolve().parents[3]
GUARD_S = 30.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with temporary_database(postgres_url_or_skip(), prefix="asm_run_integrity") as url:
        yield url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SessionStore]:
    async with await open_store(store_url) as store:
        yield store


async def _child(action: str, url: str, run_id: str, scenario: str = "short") -> _Child:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.manager_child",
        action,
        url,
        run_id,
        scenario,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    child = _Child(process)
    assert await child.line() == "ready"
    return child


class _Child:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self) -> str:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), GUARD_S)
        if not line:
            assert self.process.stderr is not None
            err = await self.process.stderr.read()
            raise AssertionError(f"the child ended early: {err.decode()[-3000:]}")
        return line.decode().strip()

    async def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        await self.process.stdin.drain()

    async def result(self) -> str:
        out = await self.line()
        await asyncio.wait_for(self.process.wait(), GUARD_S)
        return out

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


async def _pending_run(store: SessionStore) -> tuple[str, str]:
    manager = SessionManager(store, ScriptedAdapter(Scenario()))
    session = await manager.start_session("agent")
    await manager.activate_session(session.id)
    run = await manager.start_run(session.id, "go")
    return session.id, run.id


async def test_two_processes_executing_one_run_call_the_provider_once(
    store: SessionStore, store_url: str
) -> None:
    for _ in range(3):
        session_id, run_id = await _pending_run(store)
        children = [await _child("execute", store_url, run_id, "slow") for _ in range(2)]
        try:
            for child in children:  # both start at once
                await child.go()
            outcomes = sorted([await child.result() for child in children])
        finally:
            for child in children:
                child.kill()
        assert outcomes == ["completed", "error:run_already_active"]
        events = await store.get_events(session_id, run_id=run_id)
        types = [e.type for e in events]
        assert types.count("run_started") == 1  # the provider was called once
        assert [t for t in types if t in TERMINAL_RUN_EVENTS] == ["run_completed"]
        assert types[-1] == "run_completed"


@pytest.mark.parametrize("activity", ["quiet", "busy"])
async def test_a_cancel_from_another_process_stops_the_executing_adapter(
    store: SessionStore, store_url: str, activity: str
) -> None:
    session_id, run_id = await _pending_run(store)
    executor = await _child("execute", store_url, run_id, activity)
    try:
        await executor.go()
        deadline = time.monotonic() + GUARD_S
        while (await store.get_run(run_id)).status is not RunStatus.RUNNING:
            assert time.monotonic() < deadline, "the run never started"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # it streams (busy) or waits on its provider (quiet)
        canceller = await _child("cancel", store_url, run_id)
        await canceller.go()
        assert await canceller.result() == "cancelled"
        cancelled_at = time.monotonic()
        assert await executor.result() == "cancelled"
        assert time.monotonic() - cancelled_at < 2.0
    finally:
        executor.kill()
    run = await store.get_run(run_id)
    assert run.status is RunStatus.CANCELLED
    events = await store.get_events(session_id, run_id=run_id)
    assert [e.type for e in events if e.type in TERMINAL_RUN_EVENTS] == ["run_cancelled"]
    assert events[-1].type == "run_cancelled"
    assert events[-1].data == {"reason": "from another process"}
