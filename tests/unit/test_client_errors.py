"""The Python client without a server (httpx.MockTransport): the error table, retries,
request building, long-poll flow and decoding tolerance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import ocr_client
from ocr_client import (
    ArtifactExistsError,
    AsyncOcrClient,
    AuthError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    JobWaitTimeout,
    NotFoundError,
    OcrClient,
    OcrConnectionError,
    OcrError,
    PayloadTooLargeError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    UpstreamError,
    ValidationError,
)
from ocr_client import _core as core

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
FAST = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.01)


def envelope(status: int, code: str, details: dict[str, Any] | None = None) -> httpx.Response:
    body = {"error": {"code": code, "message": f"{code} happened", "request_id": "rid-1", "details": details or {}}}
    return httpx.Response(status, json=body)


def client(handler: Any, **kwargs: Any) -> OcrClient:
    return OcrClient("http://ocr.test", "k", transport=httpx.MockTransport(handler), **kwargs)


@pytest.mark.parametrize(("status", "code", "cls"), [
    (400, "bad_request", BadRequestError), (401, "auth_missing", AuthError), (401, "auth_invalid", AuthError),
    (403, "forbidden", ForbiddenError), (404, "not_found", NotFoundError), (404, "unknown_task", NotFoundError),
    (405, "method_not_allowed", BadRequestError), (409, "conflict", ConflictError),
    (409, "artifact_exists", ArtifactExistsError), (413, "payload_too_large", PayloadTooLargeError),
    (415, "unsupported_media_type", BadRequestError), (422, "validation_error", ValidationError),
    (429, "rate_limited", RateLimitedError), (500, "internal_error", ServerError),
    (502, "invalid_model_output", UpstreamError), (503, "storage_unavailable", UpstreamError),
    (504, "upstream_timeout", UpstreamError), (418, "teapot", BadRequestError), (599, "odd", ServerError),
])
def test_every_status_maps_to_its_exception(status: int, code: str, cls: type[OcrError]) -> None:
    with client(lambda _: envelope(status, code), retry=None) as ocr, pytest.raises(cls) as info:
        ocr.me()
    err = info.value
    assert type(err) is cls and isinstance(err, OcrError)
    assert (err.status, err.code, err.message, err.request_id) == (status, code, f"{code} happened", "rid-1")
    assert err.retryable is (status in (429, 502, 503, 504))
    assert code in str(err) and "rid-1" in str(err)


def test_details_are_exposed_and_retryable_comes_from_the_server() -> None:
    errors = [{"path": "$.concurrency", "message": "Expected an integer"}]
    with client(lambda _: envelope(422, "validation_error", {"errors": errors})) as ocr:
        with pytest.raises(ValidationError) as info:
            ocr.me()
        assert info.value.errors == errors
    with client(lambda _: envelope(403, "forbidden", {"required_scopes": ["debug:run"]})) as ocr:
        with pytest.raises(ForbiddenError) as forbidden:
            ocr.me()
        assert forbidden.value.required_scopes == ["debug:run"]
    with client(lambda _: envelope(502, "upstream_error", {"retryable": False}), retry=None) as ocr:
        with pytest.raises(UpstreamError) as upstream:
            ocr.me()
        assert upstream.value.retryable is False


def test_a_body_that_is_not_the_envelope_still_gives_a_typed_error() -> None:
    html = httpx.Response(502, text="<html>Bad gateway</html>", headers={"X-Request-ID": "from-header"})
    with client(lambda _: html, retry=None) as ocr, pytest.raises(UpstreamError) as info:
        ocr.health()
    assert info.value.code == "http_502" and "Bad gateway" in info.value.message
    assert info.value.request_id == "from-header"


def test_unexpected_success_body_is_an_invalid_response() -> None:
    with client(lambda _: httpx.Response(200, json={"nope": 1})) as ocr, pytest.raises(OcrError) as info:
        ocr.me()
    assert info.value.code == "invalid_response"


def test_gets_retry_on_503_and_504_then_succeed() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return envelope(503, "upstream_unavailable")
        if len(calls) == 2:
            return envelope(504, "upstream_timeout")
        return httpx.Response(200, json={"key_id": "a", "role": "client", "scopes": ["extract:run"]})

    with client(handler, retry=FAST) as ocr:
        assert ocr.me().key_id == "a"
    assert len(calls) == 3


def test_retries_are_bounded_and_not_for_other_statuses() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return envelope(503, "upstream_unavailable")

    with client(handler, retry=FAST) as ocr, pytest.raises(UpstreamError):
        ocr.me()
    assert len(calls) == 3
    calls.clear()
    with client(lambda r: calls.append(r) or envelope(500, "internal_error"), retry=FAST) as ocr, \
            pytest.raises(ServerError):
        ocr.me()
    assert len(calls) == 1


def test_posts_are_not_retried_unless_they_carry_an_idempotency_key() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) % 2:
            return envelope(503, "storage_unavailable")
        return httpx.Response(202, json={"job_id": "j1", "status": "queued", "poll_url": "/v1/jobs/j1"})

    with client(handler, retry=FAST) as ocr:
        with pytest.raises(UpstreamError):
            ocr.extract_async(PNG, "receipt_v1")
        assert len(calls) == 1
        calls.clear()
        job = ocr.extract_async(PNG, "receipt_v1", idempotency_key="once")
        assert job.job_id == "j1" and job.status == "queued" and not job.done
        assert [c.headers["idempotency-key"] for c in calls] == ["once", "once"]


def test_connection_errors_are_wrapped_and_retried_for_gets() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("refused", request=request)

    with client(handler, retry=FAST) as ocr, pytest.raises(OcrConnectionError) as info:
        ocr.health()
    assert len(calls) == 3 and info.value.status is None and info.value.code == "connection_error"
    assert info.value.retryable
    calls.clear()
    with client(handler, retry=FAST) as ocr, pytest.raises(OcrConnectionError):
        ocr.extract(PNG, "receipt_v1")
    assert len(calls) == 1


def test_extract_sends_base64_with_a_sniffed_mime_type_and_auth(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    sample = {"request_id": "r1", "task_id": "receipt_v1", "parsed": {"total": "1"}, "schema_valid": True,
              "checks": [], "error": None, "a_field_from_the_future": 1}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=sample)

    gif = tmp_path / "scan.dat"
    gif.write_bytes(b"GIF89a" + b"\x00" * 10)
    with client(handler) as ocr:
        res = ocr.extract(PNG, "receipt_v1", request_id="r1")
        assert res.ok and res.parsed == {"total": "1"}
        ocr.extract(gif, "receipt_v1")
        ocr.extract(str(tmp_path / "scan.dat"), "receipt_v1", mime_type="image/webp")
    bodies = [json.loads(r.content) for r in seen]
    assert bodies[0]["mime_type"] == "image/png" and bodies[0]["request_id"] == "r1"
    assert bodies[1]["mime_type"] == "image/gif" and "request_id" not in bodies[1]
    assert bodies[2]["mime_type"] == "image/webp"
    assert seen[0].headers["authorization"] == "Bearer k" and seen[0].url.path == "/v1/extract"
    with pytest.raises(ValueError):
        core.extract(None, "receipt_v1")


def test_sniff_mime() -> None:
    assert core.sniff_mime(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert core.sniff_mime(b"RIFF\x00\x00\x00\x00WEBP") == "image/webp"
    assert core.sniff_mime(b"II*\x00") == "image/tiff"
    assert core.sniff_mime(b"BM....") == "image/bmp"
    assert core.sniff_mime(b"hello") is None


def test_batch_upload_streams_paths_and_sends_form_fields(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(202, json={"job_id": "j9", "status": "queued", "poll_url": "/v1/jobs/j9"},
                              headers={"Location": "/v1/jobs/j9"})

    (tmp_path / "b.png").write_bytes(PNG)
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 8)
    (tmp_path / "notes.txt").write_text("x")
    files = ocr_client.image_files(tmp_path)
    assert [p.name for p in files] == ["a.jpg", "b.png"]
    with client(handler) as ocr:
        job = ocr.batch_upload([*files, ("mem.png", PNG)], "receipt_fields_v1", concurrency=2, run_id="run-1")
    assert job.poll_url == "/v1/jobs/j9"
    body = seen[0].content
    assert seen[0].url.path == "/v1/batch_extract_upload_async"
    assert seen[0].headers["content-type"].startswith("multipart/form-data")
    for part in (b'name="task_id"\r\n\r\nreceipt_fields_v1', b'name="concurrency"\r\n\r\n2',
                 b'name="run_id"\r\n\r\nrun-1', b'filename="a.jpg"', b'filename="b.png"', b'filename="mem.png"',
                 b"Content-Type: image/jpeg", b"Content-Type: image/png"):
        assert part in body
    assert b'name="limit"' not in body
    with pytest.raises(ValueError):
        core.batch_upload([], "receipt_v1")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_wait_for_long_polls_until_terminal() -> None:
    clock = FakeClock()
    flow = core.wait_for("j1", timeout=60, poll_wait=10, clock=clock)
    first = next(flow)
    assert isinstance(first, core.Call) and first.params is None
    step = flow.send(ocr_client.Job(job_id="j1", status="queued"))
    assert step.params == {"wait": "10"} and step.extra_timeout == 10
    clock.now = 10
    step = flow.send(ocr_client.Job(job_id="j1", status="running"))
    assert step.params == {"wait": "10"}
    clock.now = 55
    step = flow.send(ocr_client.Job(job_id="j1", status="running"))
    assert step.params == {"wait": "5"}  # never past the deadline
    with pytest.raises(StopIteration) as stop:
        flow.send(ocr_client.Job(job_id="j1", status="succeeded"))
    assert stop.value.value.succeeded


def test_wait_for_times_out_and_does_not_spin_on_a_server_without_long_poll() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"job_id": "j1", "status": "running", "kind": "extract",
                                         "progress": {"stage": "running", "total": 1, "done": 0}})

    with client(handler) as ocr, pytest.raises(JobWaitTimeout) as info:
        ocr.wait_for("j1", timeout=1.2, poll_wait=1)
    assert info.value.job.status == "running" and info.value.job.progress.total == 1
    assert isinstance(info.value, TimeoutError) and len(calls) < 10


def test_pages_are_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor") == "c2":
            return httpx.Response(200, json={"items": [{"run_id": "r3"}], "next_cursor": None})
        assert request.url.params["limit"] == "2"
        return httpx.Response(200, json={"items": [{"run_id": "r1"}, {"run_id": "r2"}], "next_cursor": "c2"})

    with client(handler) as ocr:
        assert [r.run_id for r in ocr.runs(limit=2)] == ["r1", "r2", "r3"]


def test_path_ids_are_quoted() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return envelope(400, "bad_request")

    with client(handler) as ocr, pytest.raises(BadRequestError):
        ocr.job("../etc/passwd")
    assert seen[0].url.raw_path == b"/v1/jobs/..%2Fetc%2Fpasswd"


async def test_async_client_shares_the_behaviour() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path == "/v1/extract":
            return envelope(409, "artifact_exists")
        if len(calls) == 2:
            return envelope(503, "upstream_unavailable")
        return httpx.Response(200, json={"items": [{"job_id": "j", "status": "failed"}], "next_cursor": None})

    async with AsyncOcrClient("http://ocr.test", "k", transport=httpx.MockTransport(handler), retry=FAST) as ocr:
        with pytest.raises(ArtifactExistsError):
            await ocr.extract(PNG, "receipt_v1", request_id="dup")
        assert [j.status async for j in ocr.jobs(status="failed")] == ["failed"]
    assert len(calls) == 3 and calls[2].url.params["status"] == "failed"


def test_the_client_is_standalone() -> None:
    """The SDK imports only the standard library, httpx and msgspec — never the service."""
    import sys

    import grimp

    graph = grimp.build_graph("ocr_client", include_external_packages=True)
    allowed = set(sys.stdlib_module_names) | {"ocr_client", "httpx", "msgspec"}
    offenders = {f"{m} -> {i}" for m in graph.modules if m.startswith("ocr_client")
                 for i in graph.find_modules_directly_imported_by(m) if i.split(".")[0] not in allowed}
    assert not offenders, sorted(offenders)
