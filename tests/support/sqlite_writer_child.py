"""A second process appending to a SQLite store, for the cross-process follow tests.

``python -m tests.support.sqlite_writer_child <path> <session id> <count>`` appends ``count``
events of type ``custom.child`` (data ``{"n": n}``) in bursts of 7, yielding the file between.
"""

from __future__ import annotations

import asyncio
import sys

from agent_session_manager import SQLiteSessionStore
from agent_session_manager.testing.store_conformance import SessionStoreConformance


async def main(path: str, session_id: str, count: int) -> None:
    store = await SQLiteSessionStore.open(path)
    try:
        for start in range(0, count, 7):
            burst = range(start, min(count, start + 7))
            await store.append_events(
                [SessionStoreConformance.event(session_id, n, type="custom.child") for n in burst]
            )
            await asyncio.sleep(0.002)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
