"""The ``ArtifactStore`` port: binary blobs (files, patches, transcripts) stored by key.

Contract every backend honours (``agent_session_manager.testing.artifact_conformance`` checks it):

* Keys are ``/``-separated paths of non-empty segments (``sessions/ses_…/patch.diff``). A key
  that could escape the store (``..`` or ``.`` segments, a leading ``/``, empty segments,
  backslashes, NUL or other control characters) raises
  :class:`~agent_session_manager.core.errors.ValidationError` before any I/O.
* ``put`` stores (or replaces) the whole value atomically: a reader sees the old bytes or the new
  ones, never a torn file. Data larger than the store's ``max_bytes`` raises ``ValidationError``
  and writes nothing.
* ``put_content`` stores data under a content-addressed key ``[prefix]sha256/<64 hex digits>``:
  the same bytes always get the same key, so storing them twice costs one object.
* ``get`` of a missing key raises :class:`~agent_session_manager.core.errors.NotFoundError`
  (code ``not_found``); ``delete`` of a missing key is a no-op; ``list(prefix)`` returns the keys
  starting with ``prefix``, sorted.
* Keys of a session's artifacts start with ``sessions/<session_id>/`` by convention
  (:func:`session_prefix`), so deleting a session can delete them too (the composite store does).

It knows nothing about sessions beyond that naming convention, nor about any backend.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Protocol, Self, runtime_checkable

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SESSION_PREFIX",
    "ArtifactRef",
    "ArtifactStore",
    "session_artifact_key",
    "session_prefix",
]

#: Default size limit of one artifact (``max_bytes``) when a backend is not told otherwise.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

#: Prefix of every session's artifacts: ``sessions/<session_id>/``.
SESSION_PREFIX = "sessions/"


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """What ``put`` stored: the key, its size in bytes and the SHA-256 of the bytes (hex)."""

    key: str
    size: int
    sha256: str


@runtime_checkable
class ArtifactStore(Protocol):
    """Async key/value store for binary artifacts."""

    #: The largest value ``put`` accepts, in bytes.
    max_bytes: int

    async def put(self, key: str, data: bytes) -> ArtifactRef:
        """Store ``data`` under ``key`` (replacing any value), atomically."""

    async def put_content(self, data: bytes, *, prefix: str = "") -> str:
        """Store ``data`` under its content-addressed key ``prefix + "sha256/<hex>"``; return
        the key."""

    async def get(self, key: str) -> bytes:
        """The stored bytes, or ``NotFoundError``."""

    async def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is a no-op."""

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """Every key starting with ``prefix``, sorted."""

    async def close(self) -> None:
        """Release clients and threads."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...


def session_prefix(session_id: str) -> str:
    """``sessions/<session_id>/``: where the artifacts of a session live."""
    from agent_session_manager.artifacts._keys import check_segment

    return f"{SESSION_PREFIX}{check_segment(session_id, 'session id')}/"


def session_artifact_key(session_id: str, name: str) -> str:
    """``sessions/<session_id>/<name>`` (``name`` may itself contain ``/``), validated."""
    from agent_session_manager.artifacts._keys import check_key

    return check_key(session_prefix(session_id) + name)
