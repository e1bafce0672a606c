"""The S3 artifact store against a real S3 API (moto's server mode on loopback): the shared
conformance suite, prefixes, and errors mapped to the library's codes."""

from __future__ import annotations

from typing import Any

import pytest

from agent_session_manager import S3ArtifactStore, StorageError
from agent_session_manager.testing.artifact_conformance import (
    CONFORMANCE_MAX_BYTES,
    ArtifactStoreConformance,
)
from tests.support.s3 import DUMMY_CREDENTIALS


class TestS3ArtifactConformance(ArtifactStoreConformance):
    @pytest.fixture
    async def artifacts(self, s3_client: Any, bucket: str) -> S3ArtifactStore:
        return S3ArtifactStore(
            bucket, prefix="conformance/", client=s3_client, max_bytes=CONFORMANCE_MAX_BYTES
        )


async def test_objects_are_written_under_the_prefix(s3_client: Any, bucket: str) -> None:
    store = S3ArtifactStore(bucket, prefix="team-a", client=s3_client)
    await store.put("sessions/ses_1/x.txt", b"hi")
    await s3_client_put(s3_client, bucket, "elsewhere/y", b"not ours")
    listed = s3_client.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == ["elsewhere/y", "team-a/sessions/ses_1/x.txt"]
    assert await store.list() == ["sessions/ses_1/x.txt"]
    head = s3_client.head_object(Bucket=bucket, Key="team-a/sessions/ses_1/x.txt")
    assert head["Metadata"]["sha256"] == (await store.put("sessions/ses_1/x.txt", b"hi")).sha256


async def s3_client_put(client: Any, bucket: str, key: str, data: bytes) -> None:
    client.put_object(Bucket=bucket, Key=key, Body=data)


async def test_store_builds_its_own_client(moto_endpoint: str, bucket: str) -> None:
    async with S3ArtifactStore(bucket, endpoint_url=moto_endpoint, **DUMMY_CREDENTIALS) as store:
        await store.put("k", b"v")
        assert await store.get("k") == b"v"
        assert await store.list() == ["k"]


async def test_missing_bucket_is_a_storage_error(s3_client: Any) -> None:
    store = S3ArtifactStore("asm-no-such-bucket", client=s3_client)
    with pytest.raises(StorageError) as caught:
        await store.put("k", b"v")
    assert caught.value.details["s3_error_code"] == "NoSuchBucket"
    with pytest.raises(StorageError):
        await store.list()


async def test_composite_of_sqlite_and_s3_deletes_a_sessions_objects(
    s3_client: Any, bucket: str, tmp_path: Any
) -> None:
    from agent_session_manager.artifacts import CompositeStore
    from agent_session_manager.core.models import Session
    from agent_session_manager.store.sqlite import SQLiteSessionStore

    sessions = await SQLiteSessionStore.open(tmp_path / "asm.db")
    async with CompositeStore(sessions, S3ArtifactStore(bucket, client=s3_client)) as store:
        doomed, kept = Session(agent_id="a"), Session(agent_id="a")
        for session in (doomed, kept):
            await store.save_session(session)
            await store.put_session_artifact(session.id, "one", b"1")
            await store.put_session_artifact(session.id, "dir/two", b"2")
        await store.delete_session(doomed.id)
        listed = s3_client.list_objects_v2(Bucket=bucket)["Contents"]
        assert sorted(o["Key"] for o in listed) == [
            f"sessions/{kept.id}/dir/two",
            f"sessions/{kept.id}/one",
        ]
