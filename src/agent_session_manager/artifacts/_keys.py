"""Key, prefix and size checks every artifact backend shares, so they all reject the same input.

Pure functions over strings and bytes: no I/O, nothing about any backend.
"""

from __future__ import annotations

import hashlib

from agent_session_manager.core.errors import ValidationError

#: S3's limit on a key's length (UTF-8 bytes); applied everywhere so keys stay portable.
MAX_KEY_BYTES = 1024


def _bad(what: str, value: object, why: str) -> ValidationError:
    return ValidationError(f"invalid artifact {what} {value!r}: {why}", details={what: repr(value)})


def _check_chars(value: str, what: str) -> None:
    if "\\" in value:
        raise _bad(what, value, "backslashes are not allowed (use '/')")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise _bad(what, value, "NUL and control characters are not allowed")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise _bad(what, value, f"longer than {MAX_KEY_BYTES} bytes")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad(what, value, "not valid Unicode text") from None


def check_segment(value: object, what: str = "key segment") -> str:
    """One path segment: non-empty, no ``/``, not ``.`` or ``..``."""
    if not isinstance(value, str) or not value:
        raise _bad(what, value, "must be a non-empty string")
    _check_chars(value, what)
    if "/" in value or value in (".", ".."):
        raise _bad(what, value, "must be one path segment (no '/', '.' or '..')")
    return value


def check_key(key: object) -> str:
    """Return ``key`` if it is a safe relative key, else raise ``ValidationError``."""
    if not isinstance(key, str) or not key:
        raise _bad("key", key, "must be a non-empty string")
    _check_chars(key, "key")
    if key.startswith("/"):
        raise _bad("key", key, "absolute keys are not allowed")
    for segment in key.split("/"):
        if segment == "":
            raise _bad("key", key, "empty path segments ('//' or a trailing '/') are not allowed")
        if segment in (".", ".."):
            raise _bad("key", key, "'.' and '..' segments are not allowed")
    return key


def check_prefix(prefix: object) -> str:
    """A listing prefix: ``""`` or the start of a safe key (it may end with ``/``)."""
    if not isinstance(prefix, str):
        raise _bad("prefix", prefix, "must be a string")
    if prefix == "":
        return prefix
    _check_chars(prefix, "prefix")
    if prefix.startswith("/"):
        raise _bad("prefix", prefix, "absolute prefixes are not allowed")
    segments = prefix.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "" and not last:
            raise _bad("prefix", prefix, "empty path segments are not allowed")
        if segment in (".", ".."):
            raise _bad("prefix", prefix, "'.' and '..' segments are not allowed")
    return prefix


def check_data(data: object, max_bytes: int) -> bytes:
    """``data`` as ``bytes`` if it is bytes-like and at most ``max_bytes`` long."""
    if isinstance(data, bytes):
        value = data
    elif isinstance(data, bytearray | memoryview):
        value = bytes(data)
    else:
        raise ValidationError(
            f"artifact data must be bytes, got {type(data).__name__}",
            details={"type": type(data).__name__},
        )
    if len(value) > max_bytes:
        raise ValidationError(
            f"artifact of {len(value)} bytes exceeds the store's limit of {max_bytes} bytes",
            code="validation_error",
            details={"size": len(value), "max_bytes": max_bytes},
        )
    return value


def check_max_bytes(max_bytes: object) -> int:
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise ValidationError(f"max_bytes must be a non-negative integer, got {max_bytes!r}")
    return max_bytes


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_key(data: bytes, prefix: str = "") -> str:
    """``prefix + "sha256/<hex>"``: the content-addressed key of ``data``."""
    prefix = check_prefix(prefix)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return check_key(f"{prefix}sha256/{sha256_hex(data)}")
