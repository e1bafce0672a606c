"""Event and run ids as compact bytes in the SQL event table (schema revision 0002).

The library's own ids are ``<prefix>_<32 hex digits of a UUIDv7>`` (``evt_…``, ``run_…``): 36
characters of text that the event table would repeat in its row and again in each index. Such an
id is stored as its 16 raw bytes; the column says which prefix it carries. Any other id (callers
may choose their own) is stored as ``0xFF`` followed by its UTF-8 bytes. The mapping is one to
one and needs no flag column: a 16-byte value whose first byte is not ``0xFF`` is always a
library id (ids whose UUID starts with ``ff`` take the general form), and valid UTF-8 never
contains ``0xFF``, so a value starting with it can only be a general id.

Used by both SQL backends (SQLite ``BLOB``, PostgreSQL ``bytea``), so their rows stay
interchangeable. No database driver here.
"""

from __future__ import annotations

from typing import Final

#: Column prefixes: ``asm_events.id`` holds event ids, ``asm_events.run_id`` run ids.
EVENT_ID_PREFIX: Final = "evt_"
RUN_ID_PREFIX: Final = "run_"

_GENERAL: Final = b"\xff"


def encode_id(value: str, prefix: str) -> bytes:
    """``value`` as stored in a column of ``prefix`` ids (see the module docstring)."""
    if len(value) == 36 and value.startswith(prefix) and value[4:6] != "ff":
        tail = value[4:]
        try:
            raw = bytes.fromhex(tail)
        except ValueError:
            raw = b""
        # fromhex also takes upper case and spaces: only the canonical spelling round-trips.
        if len(raw) == 16 and raw.hex() == tail:
            return raw
    return _GENERAL + value.encode()


def decode_id(raw: bytes, prefix: str) -> str:
    """The id that :func:`encode_id` stored as ``raw``."""
    if raw[:1] == _GENERAL:
        return raw[1:].decode()
    return prefix + raw.hex()


def encode_optional_id(value: str | None, prefix: str) -> bytes | None:
    return None if value is None else encode_id(value, prefix)


def decode_optional_id(raw: bytes | None, prefix: str) -> str | None:
    return None if raw is None else decode_id(raw, prefix)
