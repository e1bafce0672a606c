"""The filesystem artifact store passes the shared conformance suite, writes atomically and
keeps every file inside its root."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_session_manager import FilesystemArtifactStore, ValidationError
from agent_session_manager.testing.artifact_conformance import (
    CONFORMANCE_MAX_BYTES,
    ArtifactStoreConformance,
)


class TestFilesystemArtifactConformance(ArtifactStoreConformance):
    @pytest.fixture
    async def artifacts(self, tmp_path: Path) -> AsyncIterator[FilesystemArtifactStore]:
        store = FilesystemArtifactStore(tmp_path / "art", max_bytes=CONFORMANCE_MAX_BYTES)
        yield store
        await store.close()


async def test_files_live_under_the_root_and_no_temp_file_is_left(tmp_path: Path) -> None:
    store = FilesystemArtifactStore(tmp_path / "root")
    await store.put("sessions/ses_1/out.txt", b"hello")
    assert _files(tmp_path) == ["root/objects/sessions/ses_1/out.txt"]
    await store.delete("sessions/ses_1/out.txt")
    assert _files(tmp_path) == []
    assert not _exists(tmp_path / "root" / "objects" / "sessions")  # emptied folders removed


async def test_traversal_never_touches_files_outside(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    _write(secret, b"keep")
    store = FilesystemArtifactStore(tmp_path / "root")
    for key in ("../secret.txt", "../../secret.txt", "a/../../secret.txt", str(secret)):
        with pytest.raises(ValidationError):
            await store.put(key, b"overwritten")
        with pytest.raises(ValidationError):
            await store.delete(key)
    assert _read(secret) == b"keep"


async def test_symlinked_folder_out_of_the_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    os.mkdir(outside)
    store = FilesystemArtifactStore(tmp_path / "root")
    await store.put("inside/x", b"1")
    os.symlink(outside, tmp_path / "root" / "objects" / "link")
    with pytest.raises(ValidationError):
        await store.put("link/evil", b"2")
    assert os.listdir(outside) == []


async def test_a_key_cannot_be_both_a_value_and_a_folder(tmp_path: Path) -> None:
    store = FilesystemArtifactStore(tmp_path / "root")
    await store.put("a", b"value")
    with pytest.raises(ValidationError):
        await store.put("a/b", b"x")
    await store.put("c/d", b"x")
    with pytest.raises(ValidationError):
        await store.put("c", b"x")
    assert await store.get("a") == b"value"
    assert await store.list() == ["a", "c/d"]


def test_empty_root_and_bad_limits_are_rejected() -> None:
    with pytest.raises(ValidationError):
        FilesystemArtifactStore("")
    with pytest.raises(ValidationError):
        FilesystemArtifactStore("/tmp/x", max_bytes=-1)


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _exists(path: Path) -> bool:
    return path.exists()


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _read(path: Path) -> bytes:
    return path.read_bytes()
