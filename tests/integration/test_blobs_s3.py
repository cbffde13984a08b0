"""S3BlobStore against the BlobStore contract on a real S3 server (moto, MinIO or
TEST_S3_ENDPOINT), plus wire-level failure tests through a fault-injecting HTTP proxy."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.blobs.s3 import S3BlobStore
from adapters.blobs.s3_client import open_s3_client
from domain.errors import ArtifactExistsError, NotFoundError, StorageUnavailableError
from tests.contracts.blob_store_contract import BlobStoreContract, expected_stream_bytes, stream
from tests.support.services import free_port

pytestmark = pytest.mark.services

MIB = 1024 * 1024
PREFIX = "it-prefix"


@pytest.fixture
async def s3_client(s3_endpoint: str, s3_credentials: dict[str, str]) -> AsyncIterator[Any]:
    async with _client(s3_endpoint, s3_credentials) as client:
        yield client


def _client(endpoint: str, creds: dict[str, str], *, region: str = "us-east-1") -> Any:
    return open_s3_client(
        endpoint_url=endpoint,
        region=region,
        force_path_style=True,
        access_key_id=creds["aws_access_key_id"],
        secret_access_key=creds["aws_secret_access_key"],
        connect_timeout=2,
        read_timeout=10,
    )


@pytest.fixture
async def bucket(s3_client: Any) -> AsyncIterator[str]:
    name = f"blobs-{uuid.uuid4().hex[:16]}"
    await s3_client.create_bucket(Bucket=name)
    yield name
    # Best effort: matters on a shared MinIO/R2, irrelevant on moto.
    try:
        listed = await s3_client.list_objects_v2(Bucket=name)
        for obj in listed.get("Contents", []):
            await s3_client.delete_object(Bucket=name, Key=obj["Key"])
        await s3_client.delete_bucket(Bucket=name)
    except Exception:  # noqa: BLE001
        pass


def _store(client: Any, bucket: str, **kwargs: Any) -> S3BlobStore:
    kwargs.setdefault("prefix", PREFIX)
    return S3BlobStore(client, bucket=bucket, base_delay=0.01, max_delay=0.05, **kwargs)


@pytest.fixture
def adapter(s3_client: Any, bucket: str) -> S3BlobStore:
    return _store(s3_client, bucket)


@pytest.fixture
def overwrite_adapter(s3_client: Any, bucket: str) -> S3BlobStore:
    return _store(s3_client, bucket, allow_overwrite=True)


class TestS3BlobStore(BlobStoreContract):
    async def test_concurrent_put_streams_have_exactly_one_winner(
        self, adapter: S3BlobStore, request: pytest.FixtureRequest
    ) -> None:
        if not os.environ.get("TEST_S3_ENDPOINT"):
            # moto checks If-None-Match on CompleteMultipartUpload and only then assembles
            # the parts, without a lock: concurrent completes all pass the check (ADR 0030).
            # Real S3, R2 and MinIO decide atomically; point TEST_S3_ENDPOINT at one to check.
            request.applymarker(
                pytest.mark.xfail(reason="moto's conditional complete is not atomic", strict=False)
            )
        await super().test_concurrent_put_streams_have_exactly_one_winner(adapter)


# -- keys ---------------------------------------------------------------------------------


async def test_object_key_has_prefix_and_results_carry_only_rel(
    s3_client: Any, bucket: str
) -> None:
    store = _store(s3_client, bucket)
    await store.put("extracts/2026-01-01/r.json", b"{}")
    raw = await s3_client.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in raw["Contents"]] == [f"{PREFIX}/extracts/2026-01-01/r.json"]
    assert [i.rel for i in await store.list("extracts/")] == ["extracts/2026-01-01/r.json"]
    with pytest.raises(ArtifactExistsError) as exists:
        await store.put("extracts/2026-01-01/r.json", b"{}")
    with pytest.raises(NotFoundError) as missing:
        await store.get("extracts/2026-01-01/nope.json")
    for err in (exists.value, missing.value):
        shown = f"{err} {err.details}"
        assert bucket not in shown and PREFIX not in shown


async def test_empty_prefix_uses_rel_as_key(s3_client: Any, bucket: str) -> None:
    store = _store(s3_client, bucket, prefix="")
    await store.put("a/b.json", b"1")
    raw = await s3_client.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in raw["Contents"]] == ["a/b.json"]
    assert [i.rel for i in await store.list("")] == ["a/b.json"]


async def test_listing_skips_keys_that_are_not_valid_rels(s3_client: Any, bucket: str) -> None:
    await s3_client.put_object(Bucket=bucket, Key=f"{PREFIX}/a/", Body=b"")
    await s3_client.put_object(Bucket=bucket, Key=f"{PREFIX}/a//x", Body=b"")
    await s3_client.put_object(Bucket=bucket, Key=f"{PREFIX}-other/a/y", Body=b"")
    store = _store(s3_client, bucket)
    await store.put("a/z.json", b"1")
    assert [i.rel for i in await store.list("")] == ["a/z.json"]


async def test_region_auto_client_works(
    s3_endpoint: str, s3_credentials: dict[str, str], bucket: str
) -> None:
    async with _client(s3_endpoint, s3_credentials, region="auto") as client:
        store = _store(client, bucket)
        await store.put("r2/x.json", b"r2")
        assert await store.get("r2/x.json") == b"r2"


async def test_ping_missing_bucket_is_unavailable(s3_client: Any) -> None:
    with pytest.raises(StorageUnavailableError):
        await _store(s3_client, f"missing-{uuid.uuid4().hex[:12]}").ping()


async def test_missing_bucket_is_unavailable_not_found(s3_client: Any) -> None:
    with pytest.raises(StorageUnavailableError):
        await _store(s3_client, f"missing-{uuid.uuid4().hex[:12]}").get("a/b.json")


# -- endpoint down ------------------------------------------------------------------------


async def test_endpoint_down_is_unavailable_after_retries(
    s3_credentials: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    async with _client(f"http://127.0.0.1:{free_port()}", s3_credentials) as client:
        store = S3BlobStore(client, bucket="b", prefix="p", max_attempts=3, base_delay=0.01)
        started = time.monotonic()
        with (
            caplog.at_level(logging.INFO, logger="ocr.storage"),
            pytest.raises(StorageUnavailableError) as info,
        ):
            await store.put("a/b.json", b"x")
        assert time.monotonic() - started < 5
        assert info.value.details["retryable"] is True
        assert info.value.details["attempts"] == 3
        retries = [r for r in caplog.records if getattr(r, "event", None) == "storage_retry"]
        assert [r.attempt for r in retries] == [1, 2]  # type: ignore[attr-defined]
        assert all(r.rel == "a/b.json" and r.reason == "EndpointConnectionError" for r in retries)  # type: ignore[attr-defined]
        assert s3_credentials["aws_secret_access_key"] not in caplog.text
        for call in (
            lambda: store.get("a/b.json"),
            lambda: store.exists("a/b.json"),
            lambda: store.list("a/"),
            lambda: store.delete("a/b.json"),
            store.ping,
            lambda: store.put_stream("a/c.bin", stream(6 * MIB)),
        ):
            with pytest.raises(StorageUnavailableError):
                await call()


# -- faults on the wire -------------------------------------------------------------------

_DROP = {"host", "content-length", "transfer-encoding", "connection", "expect", "keep-alive"}


@dataclass
class Fault:
    match: Callable[[web.Request], bool]
    status: int
    code: str
    times: int = 1
    forward: bool = False  # True: let the request reach S3, then answer with the fault anyway


class FaultProxy:
    """An HTTP proxy to the S3 server that answers selected requests with S3 errors."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: list[Fault] = []
        self.seen: list[tuple[str, str]] = []
        self.url = ""

    def inject(self, fault: Fault) -> None:
        self.faults.append(fault)

    def _take(self, request: web.Request) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.match(request):
                fault.times -= 1
                return fault
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append((request.method, request.raw_path))
        fault = self._take(request)
        if fault is None or fault.forward:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
            async with self.session.request(
                request.method, self.upstream + request.raw_path, headers=headers, data=body
            ) as upstream:
                payload = await upstream.read()
                kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROP}
                if fault is None:
                    return web.Response(status=upstream.status, headers=kept, body=payload)
                if fault.code == CUT_BODY:  # the headers, one byte of the body, then the connection goes
                    response = web.StreamResponse(status=upstream.status, headers=kept)
                    response.content_length = len(payload)
                    await response.prepare(request)
                    await response.write(payload[:1])
                    assert request.transport is not None
                    request.transport.close()
                    return response
        xml = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{fault.code}</Code><Message>injected</Message></Error>"
        return web.Response(status=fault.status, body=xml.encode(), content_type="application/xml")

    async def __aenter__(self) -> FaultProxy:
        self.session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * MIB)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()
        await self.session.close()


CUT_BODY = "cut-body"


def is_get_object(r: web.Request) -> bool:
    return r.method == "GET" and "list-type" not in r.query


def is_put_object(r: web.Request) -> bool:
    return r.method == "PUT" and "partNumber" not in r.query


def is_upload_part(r: web.Request) -> bool:
    return r.method == "PUT" and "partNumber" in r.query


def is_complete(r: web.Request) -> bool:
    return r.method == "POST" and "uploadId" in r.query


@pytest.fixture
async def proxy(s3_endpoint: str) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(s3_endpoint) as p:
        yield p


@pytest.fixture
async def proxied(
    proxy: FaultProxy, s3_credentials: dict[str, str], bucket: str
) -> AsyncIterator[S3BlobStore]:
    async with _client(proxy.url, s3_credentials) as client:
        yield _store(client, bucket, max_attempts=3)


@pytest.mark.parametrize(
    ("status", "code"),
    [(503, "SlowDown"), (429, "TooManyRequests"), (500, "InternalError"), (400, "RequestTimeout")],
)
async def test_put_retries_throttling_and_transient_errors(
    proxy: FaultProxy,
    proxied: S3BlobStore,
    caplog: pytest.LogCaptureFixture,
    status: int,
    code: str,
) -> None:
    proxy.inject(Fault(is_put_object, status, code, times=2))
    with caplog.at_level(logging.INFO, logger="ocr.storage"):
        await proxied.put("a/throttled.json", b"payload")
    assert sum(m == "PUT" for m, _ in proxy.seen) == 3
    retries = [r for r in caplog.records if getattr(r, "event", None) == "storage_retry"]
    assert [(r.attempt, r.reason) for r in retries] == [(1, code), (2, code)]  # type: ignore[attr-defined]
    assert await proxied.get("a/throttled.json") == b"payload"


async def test_throttling_exhausted_is_unavailable_and_retryable(
    proxy: FaultProxy, proxied: S3BlobStore
) -> None:
    proxy.inject(Fault(is_put_object, 503, "SlowDown", times=10))
    with pytest.raises(StorageUnavailableError) as info:
        await proxied.put("a/never.json", b"x")
    assert info.value.details == {"reason": "SlowDown", "attempts": 3, "retryable": True}
    assert await proxied.exists("a/never.json") is False


async def test_get_is_retried(proxy: FaultProxy, proxied: S3BlobStore) -> None:
    await proxied.put("a/g.json", b"data")
    proxy.inject(Fault(lambda r: r.method == "GET", 503, "SlowDown"))
    assert await proxied.get("a/g.json") == b"data"


async def test_precondition_failed_is_not_retried(proxy: FaultProxy, proxied: S3BlobStore) -> None:
    await proxied.put("a/once.json", b"1")
    proxy.seen.clear()
    with pytest.raises(ArtifactExistsError):
        await proxied.put("a/once.json", b"2")
    assert proxy.seen == [("PUT", f"/{proxied._bucket}/{PREFIX}/a/once.json")]


async def test_conditional_request_conflict_means_exists(
    proxy: FaultProxy, proxied: S3BlobStore
) -> None:
    proxy.inject(Fault(is_put_object, 409, "ConditionalRequestConflict"))
    with pytest.raises(ArtifactExistsError):
        await proxied.put("a/conflict.json", b"1")


async def test_lost_response_then_412_on_retry_is_our_own_write(
    proxy: FaultProxy, proxied: S3BlobStore
) -> None:
    # The first PUT lands, but its response is lost as a 500; the retry then gets 412.
    proxy.inject(Fault(is_put_object, 500, "InternalError", forward=True))
    await proxied.put("a/ambiguous.json", b"mine")
    assert [m for m, _ in proxy.seen] == ["PUT", "PUT", "HEAD"]  # 412 on the retry, then ETag check
    assert await proxied.get("a/ambiguous.json") == b"mine"


async def test_412_on_retry_with_someone_elses_content_is_exists(
    proxy: FaultProxy, proxied: S3BlobStore, bucket: str, s3_client: Any
) -> None:
    # First attempt fails before reaching S3; meanwhile another writer takes the key.
    proxy.inject(Fault(is_put_object, 503, "SlowDown"))
    await s3_client.put_object(Bucket=bucket, Key=f"{PREFIX}/a/taken.json", Body=b"theirs")
    with pytest.raises(ArtifactExistsError):
        await proxied.put("a/taken.json", b"mine")
    assert await proxied.get("a/taken.json") == b"theirs"


async def test_multipart_part_retried(proxy: FaultProxy, proxied: S3BlobStore) -> None:
    proxy.inject(Fault(is_upload_part, 503, "SlowDown"))
    proxy.inject(Fault(is_complete, 500, "InternalError", forward=True))
    assert await proxied.put_stream("a/big.bin", stream(12 * MIB)) == 12 * MIB
    assert await proxied.get("a/big.bin") == expected_stream_bytes(12 * MIB)


async def test_failed_multipart_is_aborted(
    proxy: FaultProxy, proxied: S3BlobStore, s3_client: Any, bucket: str
) -> None:
    proxy.inject(Fault(is_complete, 503, "SlowDown", times=10))
    with pytest.raises(StorageUnavailableError):
        await proxied.put_stream("a/aborted.bin", stream(12 * MIB))
    uploads = await s3_client.list_multipart_uploads(Bucket=bucket)
    assert uploads.get("Uploads", []) == []
    assert await proxied.exists("a/aborted.bin") is False
    assert any(m == "DELETE" and "uploadId" in p for m, p in proxy.seen)


async def test_a_body_cut_short_is_retried_like_a_refused_connection(
    proxy: FaultProxy, proxied: S3BlobStore, caplog: pytest.LogCaptureFixture
) -> None:
    await proxied.put("a/cut.json", b'{"whole": "object"}')
    proxy.inject(Fault(is_get_object, 200, CUT_BODY, times=2, forward=True))
    with caplog.at_level(logging.INFO, logger="ocr.storage"):
        assert await proxied.get("a/cut.json") == b'{"whole": "object"}'
    retries = [r for r in caplog.records if getattr(r, "event", None) == "storage_retry"]
    assert [r.reason for r in retries] == ["ResponseStreamingError"] * 2  # type: ignore[attr-defined]
    proxy.inject(Fault(is_get_object, 200, CUT_BODY, times=5, forward=True))
    with pytest.raises(StorageUnavailableError) as info:  # a port error, never an aiohttp one
        await proxied.get("a/cut.json")
    assert info.value.details["retryable"] is True
