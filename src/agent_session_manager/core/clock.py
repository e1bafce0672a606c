"""The one place that reads the wall clock: timezone-aware UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["ensure_utc", "format_timestamp", "utcnow"]


def utcnow() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Reject naive datetimes (they are ambiguous) and normalise aware ones to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """RFC 3339 with microseconds and a ``Z`` suffix, the form every JSON record uses."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
