"""Batches over real HTTP against `ocr-orchestrator serve`: a 50-image async upload polled to
the end, and a cancel in the middle. Restarts in mid-batch (kill -9, SIGTERM) are in
test_restarts.py."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import base_env
from tests.support.images import image_bytes
from tests.support.process import ServiceProcess, create_key

pytestmark = pytest.mark.e2e


def post_upload(http: httpx.Client, key: str, count: int, **fields: Any) -> str:
    files = [("files", (f"img{i:03d}.png", image_bytes(size=(24 + i % 50, 24 + i // 50)), "image/png"))
             for i in range(count)]
    data = {"task_id": "receipt_fields_v1", **{k: str(v) for k, v in fields.items()}}
    r = http.post("/v1/batch_extract_upload_async", headers={"X-API-Key": key}, data=data, files=files)
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def poll(http: httpx.Client, key: str, job_id: str, until: Any, timeout: float = 60,
         wait: float = 1) -> list[dict[str, Any]]:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        params = {"wait": wait} if wait else {}
        job = http.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": key}, params=params).json()
        seen.append(job)
        if until(job):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached the expected state: {seen[-1]}")


def test_fifty_image_upload_polled_to_the_end_and_a_cancel(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "MOCK_LATENCY_MS": "100", "LOG_LEVEL": "WARNING"}
    key = create_key(env, "batcher", "client")
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=60) as http:
        job_id = post_upload(http, key, 50, concurrency=4)
        states = poll(http, key, job_id, lambda j: j["status"] in ("succeeded", "failed", "canceled"), wait=0)
        done = [s["progress"]["done"] for s in states]
        assert done == sorted(done) and states[-1]["status"] == "succeeded"
        assert any(0 < d < 50 for d in done)  # progress was visible while it ran
        result = http.get(f"/v1/jobs/{job_id}/result", headers={"X-API-Key": key}).json()
        assert result["item_count"] == result["ok_count"] == 50
        assert [i["file"] for i in result["items"]] == [f"img{i:03d}.png" for i in range(50)]
        runs = http.get("/v1/runs", headers={"X-API-Key": key}).json()["items"]
        assert runs[0]["run_id"] == result["run_id"] and runs[0]["ok_count"] == 50

        job_id = post_upload(http, key, 40, concurrency=2)
        poll(http, key, job_id, lambda j: j["progress"]["done"] >= 4, wait=0)
        assert http.post(f"/v1/jobs/{job_id}/cancel", headers={"X-API-Key": key}).status_code == 200
        final = poll(http, key, job_id, lambda j: j["status"] in ("succeeded", "failed", "canceled"))[-1]
        assert final["status"] == "canceled"
        partial = http.get(f"/v1/jobs/{job_id}/result", headers={"X-API-Key": key}).json()
        assert 4 <= partial["item_count"] < 40
        assert all((tmp_path / "artifacts" / i["artifact_rel"]).is_file() for i in partial["items"])
