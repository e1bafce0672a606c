"""Process-group checks for the tests that start agent CLIs and tools: who is still in a group,
and waiting until init has reaped the last orphan."""

from __future__ import annotations

import os
import time


def group_members(pgid: int) -> list[tuple[int, str, int]]:
    """(pid, state, parent pid) of every process, zombies included, in process group ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            members.append((int(entry), fields[0], int(fields[1])))
    return members


def ours(pgid: int) -> list[tuple[int, str, int]]:
    """Members of the group we are answerable for: everything except zombies already handed to
    init (tool processes orphaned by the CLI's death; init reaps them, on its own schedule)."""
    return [m for m in group_members(pgid) if not (m[1] == "Z" and m[2] == 1)]


def wait_group_gone(pgid: int, timeout: float = 10.0) -> None:
    """Wait until init has reaped the last orphaned zombie of the group."""
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_members(pgid) == []
