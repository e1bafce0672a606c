"""A local S3 API for the artifact tests: moto's server mode on 127.0.0.1, on a free port.

Nothing leaves the machine: clients get dummy credentials and the loopback endpoint. Every test
gets a bucket of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.s3 import DUMMY_CREDENTIALS


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a moto server running for the whole test session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_client(moto_endpoint: str) -> Iterator[Any]:
    """One client for the test session (building a boto3 client costs ~0.3 s)."""
    import boto3

    with pytest.MonkeyPatch.context() as patch:
        # Never pick up a real profile or proxy; the endpoint is loopback only.
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "HTTP_PROXY", "HTTPS_PROXY"):
            patch.delenv(name, raising=False)
        patch.setenv("NO_PROXY", "127.0.0.1")
        client = boto3.session.Session().client(
            "s3", endpoint_url=moto_endpoint, **DUMMY_CREDENTIALS
        )
        yield client
        client.close()


@pytest.fixture
def bucket(s3_client: Any) -> str:
    name = f"asm-test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name
