"""A second ``SessionManager`` in its own OS process, for the cross-process run tests.

``python -m tests.support.manager_child <action> <store url> <run id> [<scenario>]`` opens the
store, prints ``ready``, waits for a line on stdin, then:

* ``execute``: executes the run with a scripted adapter playing ``<scenario>`` (``quiet``: one
  delta, then silence until cancelled; ``busy``: a delta every 20 ms for 20 s; ``short``: one
  reply; ``slow``: the reply after 0.5 s) and prints ``<status>`` or ``error:<code>``;
* ``cancel``: cancels the run from here (it executes elsewhere) and prints the status.
"""

from __future__ import annotations

import asyncio
import math
import sys

from agent_session_manager import ASMError, Scenario, ScriptedAdapter, SessionManager, open_store


def _scenario(name: str) -> Scenario:
    if name == "quiet":
        return Scenario().text("started").delay(math.inf)
    if name == "busy":
        scenario = Scenario()
        for _ in range(1000):  # about 20 s of a delta every 20 ms
            scenario = scenario.stream(1, "tick").delay(0.02)
        return scenario
    if name == "slow":  # long enough for a second executor to arrive while it runs
        return Scenario().delay(0.5).text("done")
    return Scenario().text("done")


async def main(action: str, url: str, run_id: str, scenario: str = "short") -> None:
    async with await open_store(url) as store:
        manager = SessionManager(store, ScriptedAdapter(_scenario(scenario)), cancel_grace=1.0)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        try:
            if action == "execute":
                result = await manager.execute_run(run_id, timeout=60)
                print(result.status, flush=True)
            else:
                run = await manager.cancel_run(run_id, reason="from another process")
                print(run.status, flush=True)
        except ASMError as exc:
            print(f"error:{exc.code}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
