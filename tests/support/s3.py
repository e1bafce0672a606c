"""What S3 clients of the tests get: dummy credentials (the endpoint is a local moto server)."""

from __future__ import annotations

DUMMY_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
    "region_name": "us-east-1",
}
