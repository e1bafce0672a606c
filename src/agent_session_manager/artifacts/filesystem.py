"""``FilesystemArtifactStore``: artifacts as files under one root folder (the default backend).

A key ``a/b/c`` is the file ``<root>/objects/a/b/c``. Writes go to a temporary file in
``<root>/tmp`` that is flushed, synced and renamed over the target, so a reader (or a crash) never
sees a half-written artifact. Every blocking call runs in a worker thread, never on the event
loop. One key cannot be both a file and a folder (``a`` and ``a/b``): such a put raises
``ValidationError``. It knows files and the shared key rules, nothing about sessions.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import os
import uuid
from pathlib import Path
from typing import Self

from agent_session_manager.artifacts._keys import (
    check_data,
    check_key,
    check_max_bytes,
    check_prefix,
    content_key,
    sha256_hex,
)
from agent_session_manager.artifacts.protocol import DEFAULT_MAX_BYTES, ArtifactRef
from agent_session_manager.core.errors import NotFoundError, StorageError, ValidationError

__all__ = ["FilesystemArtifactStore"]


class FilesystemArtifactStore:
    """An :class:`~agent_session_manager.artifacts.protocol.ArtifactStore` in a local folder.

    ``FilesystemArtifactStore(root, max_bytes=...)``; the folder is created on first write.
    """

    def __init__(self, root: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if not str(root).strip():
            raise ValidationError("the artifact root folder must not be empty")
        self.root = Path(root).expanduser().absolute()
        self.max_bytes = check_max_bytes(max_bytes)
        self._objects = self.root / "objects"
        self._tmp = self.root / "tmp"

    def __repr__(self) -> str:
        return f"FilesystemArtifactStore({str(self.root)!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        return None

    def _path(self, key: str) -> Path:
        path = self._objects.joinpath(*check_key(key).split("/"))
        # The key rules already forbid escaping; this guards against a symlinked folder.
        if not path.resolve().is_relative_to(self._objects.resolve()):
            raise ValidationError(f"artifact key {key!r} resolves outside the store")
        return path

    # -- writes -------------------------------------------------------------------------------
    async def put(self, key: str, data: bytes) -> ArtifactRef:
        key = check_key(key)
        value = check_data(data, self.max_bytes)
        await asyncio.to_thread(self._write, key, value)
        return ArtifactRef(key=key, size=len(value), sha256=sha256_hex(value))

    async def put_content(self, data: bytes, *, prefix: str = "") -> str:
        value = check_data(data, self.max_bytes)
        key = content_key(value, prefix)
        if not await self.exists(key):
            await self.put(key, value)
        return key

    def _write(self, key: str, data: bytes) -> None:
        target = self._path(key)
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
            temp = self._tmp / f"{uuid.uuid4().hex}.part"
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                # A concurrent delete may remove an emptied parent folder between the mkdir and
                # the rename; try again a few times before giving up.
                for attempt in range(5):
                    try:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(temp, target)
                        break
                    except FileNotFoundError:
                        if attempt == 4:
                            raise
            finally:
                with contextlib.suppress(FileNotFoundError):
                    temp.unlink()
        except (NotADirectoryError, FileExistsError, IsADirectoryError) as exc:
            raise ValidationError(
                f"artifact key {key!r} conflicts with an existing key (a key cannot be both a "
                "value and a folder of other keys in the filesystem store)",
                details={"key": key},
            ) from exc
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.EISDIR, errno.EEXIST):
                raise ValidationError(
                    f"artifact key {key!r} conflicts with an existing key", details={"key": key}
                ) from exc
            raise StorageError(
                f"could not write artifact {key!r}: {exc}", details={"key": key}
            ) from exc
        _sync_folder(target.parent)

    async def delete(self, key: str) -> None:
        key = check_key(key)
        await asyncio.to_thread(self._delete, key)

    def _delete(self, key: str) -> None:
        path = self._path(key)
        try:
            if path.is_dir():
                return  # a folder of other keys, not a value
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise StorageError(
                f"could not delete artifact {key!r}: {exc}", details={"key": key}
            ) from exc
        # Remove folders left empty, up to the objects root (best effort: a concurrent put may
        # have just filled one again).
        parent = path.parent
        while parent != self._objects and parent.is_relative_to(self._objects):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    # -- reads --------------------------------------------------------------------------------
    async def get(self, key: str) -> bytes:
        key = check_key(key)
        return await asyncio.to_thread(self._read, key)

    def _read(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFoundError(f"artifact {key!r} not found", details={"key": key}) from None
        except OSError as exc:
            raise StorageError(
                f"could not read artifact {key!r}: {exc}", details={"key": key}
            ) from exc

    async def exists(self, key: str) -> bool:
        key = check_key(key)
        return await asyncio.to_thread(lambda: self._path(key).is_file())

    async def list(self, prefix: str = "") -> builtins.list[str]:
        prefix = check_prefix(prefix)
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: str) -> builtins.list[str]:
        # Walk only the deepest folder the prefix names completely.
        folder_part = prefix.rpartition("/")[0]
        start = self._objects.joinpath(*folder_part.split("/")) if folder_part else self._objects
        if not start.is_dir():
            return []
        keys: builtins.list[str] = []
        try:
            for dirpath, _dirnames, filenames in os.walk(start):
                relative = Path(dirpath).relative_to(self._objects).as_posix()
                base = "" if relative == "." else relative + "/"
                for name in filenames:
                    key = base + name
                    if key.startswith(prefix):
                        keys.append(key)
        except OSError as exc:
            raise StorageError(f"could not list artifacts under {prefix!r}: {exc}") from exc
        return sorted(keys)


def _sync_folder(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
