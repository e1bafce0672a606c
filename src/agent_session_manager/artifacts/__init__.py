"""Artifacts: the ``ArtifactStore`` port, its filesystem and S3 backends, and the composite store.

``FilesystemArtifactStore`` is the default; ``S3ArtifactStore`` needs boto3 and is imported only
when asked for, so importing this package stays cheap. Knows nothing about the session stores'
backends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_session_manager.artifacts.composite import CompositeStore
from agent_session_manager.artifacts.filesystem import FilesystemArtifactStore
from agent_session_manager.artifacts.protocol import (
    DEFAULT_MAX_BYTES,
    SESSION_PREFIX,
    ArtifactRef,
    ArtifactStore,
    session_artifact_key,
    session_prefix,
)

if TYPE_CHECKING:
    from agent_session_manager.artifacts.s3 import S3ArtifactStore

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SESSION_PREFIX",
    "ArtifactRef",
    "ArtifactStore",
    "CompositeStore",
    "FilesystemArtifactStore",
    "S3ArtifactStore",
    "session_artifact_key",
    "session_prefix",
]


def __getattr__(name: str) -> Any:
    if name == "S3ArtifactStore":
        from agent_session_manager.artifacts.s3 import S3ArtifactStore

        return S3ArtifactStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
