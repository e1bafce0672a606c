"""Parsing of the maintenance commands' shared options: points in time (``--since``/``--until``),
session statuses (``--status``) and the optional artifact folder (``--artifacts``).

Knows command-line spellings only; it opens nothing and reads no store.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from agent_session_manager.cli._runtime import UsageError

if TYPE_CHECKING:
    from agent_session_manager.core.lifecycle import SessionStatus

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="WHEN",
        help="Created at or after WHEN: 2030-01-31, 2030-01-31T12:00:00Z, or an age like 7d, 12h.",
        show_default=False,
    ),
]
UntilOption = Annotated[
    str | None,
    typer.Option(
        "--until",
        metavar="WHEN",
        help="Created before WHEN (same forms as --since).",
        show_default=False,
    ),
]
ArtifactsOption = Annotated[
    str | None,
    typer.Option(
        "--artifacts",
        metavar="DIR",
        help="Artifact folder (filesystem artifact store) whose sessions/<id>/ keys go with "
        "the sessions.",
        show_default=False,
    ),
]


def parse_when(value: str | None, option: str, *, now: datetime | None = None) -> datetime | None:
    """An ISO date/time (naive means UTC) or an age (``7d``: seven days before now)."""
    if value is None:
        return None
    text = value.strip()
    match = _RELATIVE.fullmatch(text.lower())
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"invalid {option} {value!r}: use a date (2030-01-31), a time "
            "(2030-01-31T12:00:00Z) or an age (7d, 12h, 30m)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_session_status(value: str) -> SessionStatus:
    """A ``--status`` value (any case, surrounding blanks ignored) as a ``SessionStatus``."""
    from agent_session_manager.core.lifecycle import SessionStatus

    try:
        return SessionStatus(value.strip().lower())
    except ValueError:
        choices = ", ".join(s.value for s in SessionStatus)
        raise UsageError(f"invalid status '{value}': choose one of {choices}") from None
