"""A missing S3 bucket on a real S3 server (moto, MinIO or TEST_S3_ENDPOINT): readiness and
every write name the bucket and the fix; ``create_bucket_if_missing`` (S3_CREATE_BUCKET=1)
creates it once, idempotently (issue 14)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.blobs.s3 import S3BlobStore
from adapters.blobs.s3_client import open_s3_client
from domain.errors import StorageUnavailableError

pytestmark = pytest.mark.services

HINT = "create bucket {bucket} or set S3_CREATE_BUCKET=1"


@pytest.fixture
async def client(s3_endpoint: str, s3_credentials: dict[str, str]) -> AsyncIterator[Any]:
    async with open_s3_client(
        endpoint_url=s3_endpoint, region="us-east-1", force_path_style=True,
        access_key_id=s3_credentials["aws_access_key_id"],
        secret_access_key=s3_credentials["aws_secret_access_key"], connect_timeout=2, read_timeout=10,
    ) as c:
        yield c


@pytest.fixture
def missing_bucket() -> str:
    return f"missing-{uuid.uuid4().hex[:16]}"


def store(client: Any, bucket: str) -> S3BlobStore:
    return S3BlobStore(client, bucket=bucket, prefix="p", base_delay=0.01, max_delay=0.05,
                       missing_bucket_hint=HINT.format(bucket=bucket))


def assert_names_bucket_and_fix(exc: StorageUnavailableError, bucket: str) -> None:
    assert bucket in exc.message and "S3_CREATE_BUCKET=1" in exc.message, exc.message
    assert exc.details == {"reason": "bucket_missing", "bucket": bucket, "retryable": False}


async def test_readiness_names_the_missing_bucket_and_the_fix(client: Any, missing_bucket: str) -> None:
    with pytest.raises(StorageUnavailableError) as caught:
        await store(client, missing_bucket).ping()
    assert_names_bucket_and_fix(caught.value, missing_bucket)


async def test_writes_and_reads_name_the_missing_bucket_and_the_fix(client: Any, missing_bucket: str) -> None:
    blobs = store(client, missing_bucket)
    with pytest.raises(StorageUnavailableError) as put:
        await blobs.put("a/b.json", b"{}")
    assert_names_bucket_and_fix(put.value, missing_bucket)
    with pytest.raises(StorageUnavailableError) as listed:
        await blobs.list("a")
    assert_names_bucket_and_fix(listed.value, missing_bucket)


async def test_create_bucket_if_missing_creates_it_once(client: Any, missing_bucket: str) -> None:
    blobs = store(client, missing_bucket)
    assert await blobs.create_bucket_if_missing(region="us-east-1") is True
    assert await blobs.create_bucket_if_missing(region="us-east-1") is False
    await blobs.ping()
    await blobs.put("a/b.json", b"{}")
    assert await blobs.get("a/b.json") == b"{}"


async def test_a_bucket_that_exists_is_left_alone(client: Any) -> None:
    bucket = f"present-{uuid.uuid4().hex[:16]}"
    await client.create_bucket(Bucket=bucket)
    await client.put_object(Bucket=bucket, Key="p/kept.json", Body=b"1")
    blobs = store(client, bucket)
    assert await blobs.create_bucket_if_missing() is False
    assert await blobs.get("kept.json") == b"1"
