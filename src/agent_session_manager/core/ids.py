"""Prefixed, time-sortable identifiers (``ses_…``, ``run_…``, ``evt_…``).

A UUIDv7 carries a millisecond timestamp in its high bits, so its hex form sorts by creation time;
the prefix tells a reader what kind of record an id names.
"""

from __future__ import annotations

import uuid_utils

__all__ = [
    "EVENT_PREFIX",
    "RUN_PREFIX",
    "SESSION_PREFIX",
    "new_event_id",
    "new_id",
    "new_run_id",
    "new_session_id",
]

SESSION_PREFIX = "ses"
RUN_PREFIX = "run"
EVENT_PREFIX = "evt"


def new_id(prefix: str) -> str:
    """Return ``<prefix>_<32 hex digits of a UUIDv7>``."""
    return f"{prefix}_{uuid_utils.uuid7().hex}"


def new_session_id() -> str:
    return new_id(SESSION_PREFIX)


def new_run_id() -> str:
    return new_id(RUN_PREFIX)


def new_event_id() -> str:
    return new_id(EVENT_PREFIX)
