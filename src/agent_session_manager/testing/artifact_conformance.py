"""The public conformance suite for ``ArtifactStore`` backends (pytest).

Every artifact backend shipped with agent-session-manager passes it (filesystem and S3), and so
must a third-party one: it is the executable form of the contract in ``artifacts/protocol.py``.
It talks to a store only through that protocol and knows nothing about any backend.
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from agent_session_manager.artifacts.protocol import (
    ArtifactRef,
    ArtifactStore,
    session_artifact_key,
    session_prefix,
)
from agent_session_manager.core.errors import NotFoundError, ValidationError

__all__ = ["BAD_KEYS", "CONFORMANCE_MAX_BYTES", "ArtifactStoreConformance"]

#: The ``max_bytes`` the ``artifacts`` fixture must give its store (the size-limit tests put
#: values just under and just over it).
CONFORMANCE_MAX_BYTES = 64 * 1024

#: Keys that could escape the store or are ambiguous: every backend refuses them.
BAD_KEYS: tuple[object, ...] = (
    "",
    "/etc/passwd",
    "../outside",
    "a/../../outside",
    "a/..",
    "..",
    ".",
    "a/./b",
    "a//b",
    "a/",
    "a\\b",
    "..\\outside",
    "a\x00b",
    "a\nb",
    "x" * 1025,
    None,
    b"bytes-key",
    42,
)


class ArtifactStoreConformance:
    """Subclass this in your tests to check an ``ArtifactStore`` against the shared contract.

    Provide an async ``artifacts`` fixture yielding a **fresh, empty** store created with
    ``max_bytes=CONFORMANCE_MAX_BYTES``, closed afterwards::

        import pytest
        from agent_session_manager.testing.artifact_conformance import (
            CONFORMANCE_MAX_BYTES,
            ArtifactStoreConformance,
        )

        class TestMyArtifacts(ArtifactStoreConformance):
            @pytest.fixture
            async def artifacts(self, tmp_path):
                store = MyArtifactStore(tmp_path, max_bytes=CONFORMANCE_MAX_BYTES)
                yield store
                await store.close()
    """

    async def test_is_an_artifact_store(self, artifacts: ArtifactStore) -> None:
        assert isinstance(artifacts, ArtifactStore)
        assert artifacts.max_bytes == CONFORMANCE_MAX_BYTES

    async def test_put_then_get_returns_the_same_bytes(self, artifacts: ArtifactStore) -> None:
        data = bytes(range(256)) * 4
        ref = await artifacts.put("notes/all-bytes.bin", data)
        assert ref == ArtifactRef(
            key="notes/all-bytes.bin", size=len(data), sha256=hashlib.sha256(data).hexdigest()
        )
        assert await artifacts.get("notes/all-bytes.bin") == data
        assert await artifacts.exists("notes/all-bytes.bin")

    async def test_empty_value_round_trips(self, artifacts: ArtifactStore) -> None:
        ref = await artifacts.put("empty", b"")
        assert ref.size == 0
        assert await artifacts.get("empty") == b""

    async def test_put_replaces(self, artifacts: ArtifactStore) -> None:
        await artifacts.put("k", b"first")
        await artifacts.put("k", b"second, longer")
        assert await artifacts.get("k") == b"second, longer"
        assert await artifacts.list() == ["k"]

    async def test_bytes_like_values_are_accepted(self, artifacts: ArtifactStore) -> None:
        await artifacts.put("ba", bytearray(b"abc"))  # type: ignore[arg-type]
        await artifacts.put("mv", memoryview(b"def"))  # type: ignore[arg-type]
        assert await artifacts.get("ba") == b"abc"
        assert await artifacts.get("mv") == b"def"

    async def test_non_bytes_value_is_rejected(self, artifacts: ArtifactStore) -> None:
        with pytest.raises(ValidationError):
            await artifacts.put("text", "not bytes")  # type: ignore[arg-type]
        assert await artifacts.list() == []

    async def test_unicode_keys_round_trip(self, artifacts: ArtifactStore) -> None:
        key = "sessions/ses_ü/résumé ✓ (1).txt"
        await artifacts.put(key, "héllo ✓".encode())
        assert await artifacts.get(key) == "héllo ✓".encode()
        assert await artifacts.list("sessions/") == [key]

    async def test_get_missing_raises_not_found(self, artifacts: ArtifactStore) -> None:
        with pytest.raises(NotFoundError) as caught:
            await artifacts.get("nope/missing")
        assert caught.value.code == "not_found"
        assert not await artifacts.exists("nope/missing")

    async def test_delete_is_idempotent(self, artifacts: ArtifactStore) -> None:
        await artifacts.put("a/b/c", b"x")
        await artifacts.delete("a/b/c")
        await artifacts.delete("a/b/c")
        await artifacts.delete("never/existed")
        assert not await artifacts.exists("a/b/c")
        with pytest.raises(NotFoundError):
            await artifacts.get("a/b/c")
        assert await artifacts.list() == []

    async def test_delete_leaves_siblings(self, artifacts: ArtifactStore) -> None:
        await artifacts.put("a/b/one", b"1")
        await artifacts.put("a/b/two", b"2")
        await artifacts.delete("a/b/one")
        assert await artifacts.list() == ["a/b/two"]
        await artifacts.put("a/b/one", b"1 again")
        assert await artifacts.get("a/b/one") == b"1 again"

    async def test_list_by_prefix_is_sorted_and_exact(self, artifacts: ArtifactStore) -> None:
        keys = ["sessions/s1/b", "sessions/s1/a", "sessions/s10/x", "sessions/s2/a", "top"]
        for key in keys:
            await artifacts.put(key, key.encode())
        assert await artifacts.list() == sorted(keys)
        assert await artifacts.list("sessions/s1/") == ["sessions/s1/a", "sessions/s1/b"]
        assert await artifacts.list("sessions/s1") == [
            "sessions/s1/a",
            "sessions/s1/b",
            "sessions/s10/x",
        ]
        assert await artifacts.list("to") == ["top"]
        assert await artifacts.list("nothing/") == []

    @pytest.mark.parametrize("prefix", ["../", "/abs", "a//", "a\\b", "a\x00"])
    async def test_list_rejects_bad_prefixes(self, artifacts: ArtifactStore, prefix: str) -> None:
        with pytest.raises(ValidationError):
            await artifacts.list(prefix)

    async def test_content_addressed_keys(self, artifacts: ArtifactStore) -> None:
        data = b"the same bytes"
        digest = hashlib.sha256(data).hexdigest()
        key = await artifacts.put_content(data)
        assert key == f"sha256/{digest}"
        assert await artifacts.put_content(data) == key
        assert await artifacts.get(key) == data
        assert await artifacts.list() == [key]
        other = await artifacts.put_content(b"other bytes")
        assert other != key

    async def test_content_addressed_keys_under_a_prefix(self, artifacts: ArtifactStore) -> None:
        data = b"patch"
        key = await artifacts.put_content(data, prefix=session_prefix("ses_1"))
        assert key == f"sessions/ses_1/sha256/{hashlib.sha256(data).hexdigest()}"
        assert await artifacts.list(session_prefix("ses_1")) == [key]

    @pytest.mark.parametrize("key", BAD_KEYS, ids=lambda key: repr(key)[:24])
    async def test_unsafe_keys_are_rejected_everywhere(
        self, artifacts: ArtifactStore, key: object
    ) -> None:
        with pytest.raises(ValidationError):
            await artifacts.put(key, b"x")  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await artifacts.get(key)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await artifacts.exists(key)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await artifacts.delete(key)  # type: ignore[arg-type]
        assert await artifacts.list() == []

    async def test_bad_content_prefix_is_rejected(self, artifacts: ArtifactStore) -> None:
        with pytest.raises(ValidationError):
            await artifacts.put_content(b"x", prefix="../")
        assert await artifacts.list() == []

    async def test_size_limit(self, artifacts: ArtifactStore) -> None:
        limit = artifacts.max_bytes
        ref = await artifacts.put("fits", b"a" * limit)
        assert ref.size == limit
        with pytest.raises(ValidationError) as caught:
            await artifacts.put("too-big", b"a" * (limit + 1))
        assert caught.value.details["max_bytes"] == limit
        with pytest.raises(ValidationError):
            await artifacts.put_content(b"b" * (limit + 1))
        assert await artifacts.list() == ["fits"]

    async def test_oversized_replacement_keeps_the_old_value(
        self, artifacts: ArtifactStore
    ) -> None:
        await artifacts.put("k", b"old")
        with pytest.raises(ValidationError):
            await artifacts.put("k", b"n" * (artifacts.max_bytes + 1))
        assert await artifacts.get("k") == b"old"

    async def test_concurrent_puts(self, artifacts: ArtifactStore) -> None:
        keys = [f"many/{i:02d}" for i in range(20)]
        await asyncio.gather(*(artifacts.put(k, k.encode()) for k in keys))
        assert await artifacts.list("many/") == keys
        values = await asyncio.gather(*(artifacts.get(k) for k in keys))
        assert values == [k.encode() for k in keys]

    async def test_session_key_helpers(self, artifacts: ArtifactStore) -> None:
        key = session_artifact_key("ses_9", "diffs/run_1.patch")
        assert key == "sessions/ses_9/diffs/run_1.patch"
        await artifacts.put(key, b"diff")
        assert await artifacts.list(session_prefix("ses_9")) == [key]
        with pytest.raises(ValidationError):
            session_artifact_key("../ses", "x")
        with pytest.raises(ValidationError):
            session_artifact_key("ses_9", "../../escape")
