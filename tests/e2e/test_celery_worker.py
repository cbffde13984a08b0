"""JOBS_BACKEND=celery end to end: `ocr-orchestrator serve` enqueues, `ocr-orchestrator worker`
executes. A worker killed with kill -9 in the middle of a batch leaves its job running; the
next worker's stale sweep fails it with `stale_after_restart` (ADR 0005) and never reruns it,
so the finished items' artifacts stay exactly as they were."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import base_env
from tests.support.images import image_bytes
from tests.support.process import ServiceProcess, create_key
from tests.support.worker_process import WorkerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.services]

FINAL = ("succeeded", "failed", "canceled")


def upload(http: httpx.Client, key: str, count: int, concurrency: int) -> str:
    files = [("files", (f"page{i:02d}.jpg", image_bytes("JPEG", (40 + i, 30)), "image/jpeg")) for i in range(count)]
    r = http.post("/v1/batch_extract_upload_async", headers={"X-API-Key": key}, files=files,
                  data={"task_id": "receipt_fields_v1", "concurrency": str(concurrency)})
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def poll(http: httpx.Client, key: str, job_id: str, until: Any, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = http.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": key}).json()
        if until(job):
            return job
        assert time.monotonic() < deadline, f"job {job_id} never got there: {job}"
        time.sleep(0.05)


def extract_artifacts(artifacts: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(artifacts)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in (artifacts / "extracts").rglob("*.json")}


def test_a_worker_killed_mid_batch_leaves_a_failed_job_and_untouched_artifacts(
        tmp_path: Path, redis_url: str) -> None:
    # A queue of its own, so concurrent test sessions sharing Redis never take each other's jobs.
    env = {**base_env(tmp_path), "JOBS_BACKEND": "celery", "CELERY_BROKER_URL": redis_url,
           "CELERY_QUEUE": f"e2e-{tmp_path.name}",
           "JOBS_MAX_CONCURRENCY": "1", "JOBS_HEARTBEAT_S": "1", "JOBS_STALE_AFTER_S": "3"}
    worker_env = {**env, "MOCK_LATENCY_MS": "250"}
    key = create_key(env, "celery-e2e", "client")
    artifacts = tmp_path / "artifacts"
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=30) as http:
        ready = http.get("/v1/ready")
        assert ready.status_code == 200 and ready.json()["components"]["broker"]["ok"] is True, ready.text

        first = WorkerProcess(worker_env, tmp_path).start()
        job_id = upload(http, key, 20, concurrency=2)  # ~2.5 s of items at 2 x 250 ms
        seen = poll(http, key, job_id, lambda j: j["progress"]["done"] >= 4)
        assert seen["status"] == "running"
        first.kill()
        killed_at = extract_artifacts(artifacts)
        assert 4 <= len(killed_at) < 20
        assert poll(http, key, job_id, lambda j: True)["status"] == "running"  # nobody is left to finish it

        second = WorkerProcess(worker_env, tmp_path).start()
        final = poll(http, key, job_id, lambda j: j["status"] in FINAL, timeout=15)
        assert final["status"] == "failed" and final["error"]["code"] == "stale_after_restart", final
        assert final["progress"]["done"] <= len(killed_at) and final["result_rel"] is None
        running = http.get("/v1/jobs", headers={"X-API-Key": key}, params={"status": "running"}).json()
        assert running["items"] == []
        assert [r["job_id"] for r in second.events("job_stale")] == [job_id]
        assert job_id not in {r.get("job_id") for r in second.events("job_start")}

        # The new worker serves new jobs; the dead job's finished items were never redone.
        fresh = upload(http, key, 2, concurrency=2)
        assert poll(http, key, fresh, lambda j: j["status"] in FINAL)["status"] == "succeeded"
        after = extract_artifacts(artifacts)
        assert {rel: after[rel] for rel in killed_at} == killed_at and len(after) == len(killed_at) + 2
        assert second.stop() == 0
