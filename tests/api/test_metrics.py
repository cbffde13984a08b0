"""GET /metrics: Prometheus text with the expected series and counts after a few calls."""

from __future__ import annotations

import re
from typing import Any

from dependency_injector import providers

from domain.errors import StorageUnavailableError
from tests.api.batches_helpers import upload, wait_done
from tests.api.conftest import Api
from tests.support.images import image_b64, image_bytes


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series, e.g. sample(text, "ocr_http_requests_total", route="/v1/me")."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_after_a_few_calls(api: Api) -> None:
    for _ in range(3):
        api.client.get("/v1/me", headers=api.auth())
    api.client.get("/v1/runs/item/abc", headers=api.auth())
    api.client.get("/v1/runs/item/def", headers=api.auth())
    api.client.get("/v1/no/such/route")
    for rid in ("m-ok-1", "mock_fail_upstream_m"):
        api.client.post("/v1/extract", headers=api.auth(), json={
            "task_id": "receipt_fields_v1", "image_base64": image_b64(), "mime_type": "image/png", "request_id": rid})
    job = upload(api, [("a.png", image_bytes()), ("mock_fail_json_b.png", image_bytes(size=(9, 9)))],
                 path="/v1/batch_extract_upload_async").json()
    wait_done(api, job["job_id"])

    r = api.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert sample(text, "ocr_http_requests_total", method="GET", route="/v1/me", status="200") == 3
    # raw ids never become labels: both item reads share the route template
    assert sample(text, "ocr_http_requests_total", route="/v1/runs/item/{request_id}", status="404") == 2
    assert "/v1/runs/item/abc" not in text and "/v1/no/such/route" not in text
    assert sample(text, "ocr_http_requests_total", route="unmatched", status="404") == 1
    assert sample(text, "ocr_http_request_duration_seconds_count", method="GET", route="/v1/me") == 3
    assert sample(text, "ocr_model_calls_total", outcome="ok") == 3  # 1 sync + 2 batch items
    assert sample(text, "ocr_model_calls_total", outcome="upstream_unavailable") == 1
    assert sample(text, "ocr_model_call_duration_seconds_count") == 4
    assert sample(text, "ocr_model_calls_in_flight") == 0
    assert sample(text, "ocr_batch_items_processed_total", outcome="ok") == 1
    assert sample(text, "ocr_batch_items_processed_total", outcome="error") == 1
    assert sample(text, "ocr_jobs", state="succeeded") == 1 and sample(text, "ocr_jobs", state="running") == 0
    assert sample(text, "ocr_storage_operations_total", op="put", outcome="ok") >= 4
    assert "ocr_storage_operation_duration_seconds_bucket" in text


class DownStore:
    """A blob store whose backend is unreachable."""

    async def put(self, *_: Any, **__: Any) -> None:
        raise StorageUnavailableError("storage is down", retryable=True)

    async def exists(self, *_: Any, **__: Any) -> bool:
        raise StorageUnavailableError("storage is down", retryable=True)

    async def ping(self) -> None:
        raise StorageUnavailableError("storage is down", retryable=True)


def test_storage_errors_are_counted(make_api: Any) -> None:
    api = make_api(configure=lambda c: c.raw_blob_store.override(providers.Object(DownStore())))
    r = api.client.post("/v1/extract", headers=api.auth(), json={
        "task_id": "receipt_fields_v1", "image_base64": image_b64(), "mime_type": "image/png", "request_id": "s1"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "storage_unavailable"
    assert r.json()["error"]["details"]["retryable"] is True
    text = api.client.get("/metrics").text
    assert sample(text, "ocr_storage_operations_total", op="put", outcome="error") == 1
    assert api.client.get("/v1/ready").json()["components"]["storage"]["ok"] is False
