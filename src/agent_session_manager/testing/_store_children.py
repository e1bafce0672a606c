"""The child programs of the store conformance kit's multi-process tests.

Each runs in its own OS process (``python -m agent_session_manager.testing._store_children
<program> <opener> <url> …``), opens the store under test with the kit's ``store_opener`` and
reports on stdout what it stored, so the parent can check it against the log. A program prints
``ready`` once its store is open and, where the parent starts several together, waits for a line
on stdin before writing. It knows the ``SessionStore`` port and nothing about any backend.
"""

from __future__ import annotations

import asyncio
import importlib
import random
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from agent_session_manager.core.errors import ConcurrencyError
from agent_session_manager.core.events import Event
from agent_session_manager.core.lifecycle import RunStatus
from agent_session_manager.store.protocol import SessionStore

#: Events each appender process writes by default.
PROCESS_APPENDS = 150

_Opener = Callable[[str], Awaitable[SessionStore]]


def _opener(target: str) -> _Opener:
    module, _, name = target.partition(":")
    opener: _Opener = getattr(importlib.import_module(module), name)
    return opener


async def _go() -> None:
    """Wait for the parent's line on stdin (so several children start writing together)."""
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def appender(open_store: _Opener, url: str, session_id: str, *rest: str) -> None:
    """argv: session id[, count, event type]. Appends from 25 tasks (singles and pairs) and
    prints ``<event id>:<sequence>`` for each event."""
    count = int(rest[0]) if rest else PROCESS_APPENDS
    kind = rest[1] if len(rest) > 1 else "conformance.process"
    async with await open_store(url) as store:
        print("ready", flush=True)
        await _go()
        todo = [Event(type=kind, session_id=session_id, data={"k": k}) for k in range(count)]
        done: list[Event] = []

        async def task(mine: list[Event]) -> None:
            while mine:
                if len(mine) >= 2 and len(mine) % 3 == 0:
                    done.extend(await store.append_events([mine.pop(), mine.pop()]))
                else:
                    done.append(await store.append_event(mine.pop()))

        await asyncio.gather(*(task(todo[i::25]) for i in range(25)))
        print(" ".join(f"{e.id}:{e.sequence_number}" for e in done), flush=True)


async def crash_writer(open_store: _Opener, url: str, session_id: str, *_: str) -> None:
    """Appends forever from 4 tasks (singles and batches of up to 5); after each acknowledged
    append prints ``<event id>:<sequence> …`` and flushes (the parent SIGKILLs it)."""
    store = await open_store(url)
    print("ready", flush=True)

    async def task() -> None:
        while True:
            batch, size = uuid.uuid4().hex, random.randint(1, 5)
            events = [
                Event(
                    type="conformance.crash",
                    session_id=session_id,
                    data={"batch": batch, "size": size, "i": i, "pad": "x" * 200},
                )
                for i in range(size)
            ]
            if size == 1:
                stored = [await store.append_event(events[0])]
            else:
                stored = await store.append_events(events)
            sys.stdout.write(" ".join(f"{e.id}:{e.sequence_number}" for e in stored) + "\n")
            sys.stdout.flush()

    await asyncio.gather(*(task() for _ in range(4)))


async def finalizer(open_store: _Opener, url: str, session_id: str, *run_ids: str) -> None:
    """argv: session id, run ids. Ends each running run ``cancelled`` with a guarded flush (and
    its ``run_cancelled`` event) and prints ``<run id>:won`` or ``<run id>:lost``."""
    async with await open_store(url) as store:
        # Read while they are all running, so every flush below is a real race.
        runs = [(await store.get_run(run_id)).transition(RunStatus.CANCELLED) for run_id in run_ids]
        print("ready", flush=True)
        await _go()
        for run in runs:
            event = Event(type="run_cancelled", session_id=session_id, run_id=run.id)
            try:
                await store.flush(run=run, events=[event], run_from=RunStatus.RUNNING)
                print(f"{run.id}:won", flush=True)
            except ConcurrencyError:
                print(f"{run.id}:lost", flush=True)


async def run_appender(open_store: _Opener, url: str, session_id: str, run_id: str) -> None:
    """argv: session id, run id. Appends events of the run until the store refuses one
    (``run_ended``), then prints how many it appended."""
    async with await open_store(url) as store:
        print("ready", flush=True)
        await _go()
        appended = 0
        while True:
            event = Event(type="conformance.late", session_id=session_id, run_id=run_id)
            try:
                await store.append_event(event)
            except ConcurrencyError:
                break
            appended += 1
        print(appended, flush=True)


PROGRAMS: dict[str, Callable[..., Coroutine[Any, Any, None]]] = {
    "appender": appender,
    "crash_writer": crash_writer,
    "finalizer": finalizer,
    "run_appender": run_appender,
}


def main(argv: list[str]) -> None:
    program, opener, url, *rest = argv
    asyncio.run(PROGRAMS[program](_opener(opener), url, *rest))


if __name__ == "__main__":
    main(sys.argv[1:])
