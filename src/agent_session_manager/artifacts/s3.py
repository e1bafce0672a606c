"""``S3ArtifactStore``: artifacts as objects in an S3-compatible bucket (AWS S3, MinIO, moto).

The object key is ``prefix + key``. Every boto3 call runs in a worker thread (boto3 is blocking;
its clients are thread-safe), and the client is created on first use, so constructing the store
costs nothing. S3 ``PUT`` replaces an object atomically; a missing object on ``get`` is
``NotFoundError``; any other client failure is ``StorageError`` with the S3 error code in
``details``. It needs the optional ``boto3`` dependency (``pip install
'agentsessionmanager[s3]'``) and knows nothing about sessions.
"""

from __future__ import annotations

import asyncio
import builtins
import threading
from typing import Any, Self

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
from agent_session_manager.core.extras import install_hint

__all__ = ["S3ArtifactStore"]

_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class S3ArtifactStore:
    """An :class:`~agent_session_manager.artifacts.protocol.ArtifactStore` in an S3 bucket.

    ``S3ArtifactStore("my-bucket", prefix="asm/", endpoint_url=..., region_name=...)`` builds a
    boto3 client from the usual AWS configuration (environment, profile) plus ``client_options``;
    pass ``client=`` to use a client you made yourself.
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        **client_options: Any,
    ) -> None:
        if not isinstance(bucket, str) or not bucket.strip():
            raise ValidationError(f"S3 bucket name must be a non-empty string, got {bucket!r}")
        prefix = check_prefix(prefix)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.bucket = bucket
        self.prefix = prefix
        self.max_bytes = check_max_bytes(max_bytes)
        self._client = client
        self._owns_client = client is None
        self._client_options = {
            "endpoint_url": endpoint_url,
            "region_name": region_name,
            **client_options,
        }
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3ArtifactStore(bucket={self.bucket!r}, prefix={self.prefix!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client this store created (a client passed in stays open)."""
        if not self._owns_client:
            return
        client, self._client = self._client, None
        closer = getattr(client, "close", None)
        if callable(closer):
            await asyncio.to_thread(closer)

    # -- plumbing ------------------------------------------------------------------------------
    def _get_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                with install_hint("the S3 artifact store"):
                    import boto3
                options = {k: v for k, v in self._client_options.items() if v is not None}
                self._client = boto3.session.Session().client("s3", **options)
            return self._client

    async def _call(self, doing: str, key: str, method: str, **params: Any) -> Any:
        def call() -> Any:
            client = self._get_client()
            return getattr(client, method)(Bucket=self.bucket, **params)

        try:
            return await asyncio.to_thread(call)
        except (ValidationError, NotFoundError):
            raise
        except Exception as exc:
            code = _error_code(exc)
            if code in _MISSING_CODES:
                raise NotFoundError(f"artifact {key!r} not found", details={"key": key}) from None
            raise StorageError(
                f"could not {doing} artifact {key!r} in s3://{self.bucket}/{self.prefix}: {exc}",
                details={"key": key, "s3_error_code": code},
            ) from exc

    # -- the port ------------------------------------------------------------------------------
    async def put(self, key: str, data: bytes) -> ArtifactRef:
        key = check_key(key)
        value = check_data(data, self.max_bytes)
        digest = sha256_hex(value)
        await self._call(
            "write",
            key,
            "put_object",
            Key=self.prefix + key,
            Body=value,
            Metadata={"sha256": digest},
        )
        return ArtifactRef(key=key, size=len(value), sha256=digest)

    async def put_content(self, data: bytes, *, prefix: str = "") -> str:
        value = check_data(data, self.max_bytes)
        key = content_key(value, prefix)
        if not await self.exists(key):
            await self.put(key, value)
        return key

    async def get(self, key: str) -> bytes:
        key = check_key(key)

        response = await self._call("read", key, "get_object", Key=self.prefix + key)
        body = response["Body"]
        try:
            data: bytes = await asyncio.to_thread(body.read)
        finally:
            body.close()
        return data

    async def exists(self, key: str) -> bool:
        key = check_key(key)
        try:
            await self._call("inspect", key, "head_object", Key=self.prefix + key)
        except NotFoundError:
            return False
        return True

    async def delete(self, key: str) -> None:
        key = check_key(key)
        await self._call("delete", key, "delete_object", Key=self.prefix + key)

    async def list(self, prefix: str = "") -> builtins.list[str]:
        prefix = check_prefix(prefix)
        full = self.prefix + prefix

        def scan() -> builtins.list[str]:
            client = self._get_client()
            keys: builtins.list[str] = []
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for item in page.get("Contents", ()):
                    keys.append(str(item["Key"])[len(self.prefix) :])
            return sorted(keys)

        try:
            return await asyncio.to_thread(scan)
        except ValidationError:
            raise
        except Exception as exc:
            raise StorageError(
                f"could not list artifacts under {prefix!r} in s3://{self.bucket}: {exc}",
                details={"prefix": prefix, "s3_error_code": _error_code(exc)},
            ) from exc


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code is not None:
            return str(code)
    return None
