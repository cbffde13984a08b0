"""Async upload batches start at their first file (ADR 0051), over real HTTP against
`ocr-orchestrator serve`: the request body is sent in pieces, and the test holds the rest back
until the service has written an item's artifact — so the items provably run while the body
still arrives. Then: the end of the body settles the job; a limit exceeded, a client that
goes away, or a field after the files stop the early job, keeping what its items use."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import base_env
from tests.support.images import image_bytes
from tests.support.process import ServiceProcess, create_key

pytestmark = pytest.mark.e2e

BOUNDARY = "early-start-7d1f"
MAX_FILES = 12


class Uploader:
    def __init__(self, service: ServiceProcess, key: str, artifacts: Path) -> None:
        self.service, self.key, self.artifacts = service, key, artifacts
        self.http = httpx.Client(base_url=service.base_url, timeout=60, headers={"X-API-Key": key})

    def extracts(self) -> set[Path]:
        return set((self.artifacts / "extracts").rglob("*.json"))

    def wait_for_new_extract(self, before: set[Path], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not self.extracts() - before:
            assert time.monotonic() < deadline, "no item ran while the body was still arriving"
            time.sleep(0.02)

    def post(self, parts: Iterator[bytes], key: str | None = None) -> httpx.Response:
        headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        if key:
            headers["Idempotency-Key"] = key
        return self.http.post("/v1/batch_extract_upload_async", content=parts, headers=headers)

    def job(self, job_id: str) -> dict[str, Any]:
        return self.http.get(f"/v1/jobs/{job_id}").json()

    def finished(self, job_id: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.http.get(f"/v1/jobs/{job_id}", params={"wait": 5}).json()
            if job["status"] in ("succeeded", "failed", "canceled"):
                return job
        raise AssertionError(f"job {job_id} did not finish")

    def job_ids(self) -> set[str]:
        return {j["job_id"] for j in self.jobs()}

    def jobs(self) -> list[dict[str, Any]]:
        return self.http.get("/v1/jobs", params={"limit": 100}).json()["items"]

    def inputs_on_disk(self) -> set[str]:
        return {str(p.relative_to(self.artifacts)) for p in (self.artifacts / "inputs").rglob("*") if p.is_file()}


def field(name: str, value: str) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()


def file_part(index: int) -> bytes:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"f{index:02d}.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode()
    return head + image_bytes(size=(30 + index, 31 + index)) + b"\r\n"


END = f"--{BOUNDARY}--\r\n".encode()


@pytest.fixture(scope="module")
def uploader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Uploader]:
    tmp = tmp_path_factory.mktemp("early")
    env = {**base_env(tmp), "MOCK_LATENCY_MS": "50", "LOG_LEVEL": "WARNING", "MAX_BATCH_FILES": str(MAX_FILES)}
    key = create_key(env, "early", "client")
    with ServiceProcess(env, tmp) as service:
        up = Uploader(service, key, tmp / "artifacts")
        yield up
        up.http.close()


def test_items_run_while_the_body_arrives_and_the_job_ends_with_every_file(uploader: Uploader) -> None:
    before = uploader.extracts()
    held_back: list[bool] = []

    def body() -> Iterator[bytes]:
        yield field("task_id", "receipt_fields_v1") + field("concurrency", "4")
        for i in range(3):
            yield file_part(i)
        uploader.wait_for_new_extract(before)  # the rest of the body waits for a finished item
        held_back.append(True)
        for i in range(3, 10):
            yield file_part(i)
        yield END

    r = uploader.post(body())
    assert r.status_code == 202, r.text
    assert held_back == [True]
    job = uploader.finished(r.json()["job_id"])
    assert job["status"] == "succeeded" and job["error"] is None
    assert job["progress"] == {"stage": "succeeded", "total": 10, "done": 10, "ok": 10, "err": 0, "current": None}
    result = uploader.http.get(f"/v1/jobs/{job['job_id']}/result").json()
    assert [i["file"] for i in result["items"]] == [f"f{i:02d}.png" for i in range(10)]
    assert len({i["request_id"] for i in result["items"]}) == 10
    run = uploader.http.get(f"/v1/runs/{result['run_id']}").json()
    assert run["item_count"] == 10


def test_a_limit_exceeded_midway_stops_the_started_job_and_keeps_only_what_it_used(uploader: Uploader) -> None:
    before, inputs_before = uploader.extracts(), uploader.inputs_on_disk()

    def body() -> Iterator[bytes]:
        yield field("task_id", "receipt_fields_v1") + field("concurrency", "2")
        for i in range(100, 103):
            yield file_part(i)
        uploader.wait_for_new_extract(before)
        for i in range(103, 103 + MAX_FILES):
            yield file_part(i)
        yield END

    r = uploader.post(body(), key="refused-then-retried")
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert error["code"] == "payload_too_large" and error["details"]["job_id"]
    job = uploader.finished(error["details"]["job_id"])
    assert job["status"] == "canceled" and job["error"]["code"] == "payload_too_large"
    result = uploader.http.get(f"/v1/jobs/{job['job_id']}/result").json()
    assert 1 <= result["item_count"] <= MAX_FILES
    assert [i["file"] for i in result["items"]] == [f"f{i:02d}.png" for i in range(100, 100 + result["item_count"])]
    for item in result["items"]:
        assert (uploader.artifacts / item["artifact_rel"]).is_file()
    # Inputs the started items use stay (their artifacts point at them); the rest are gone.
    assert uploader.inputs_on_disk() - inputs_before == {i["input_ref"] for i in result["items"]}
    # The refused request's key names no job: the corrected retry starts afresh under it.
    retry = uploader.post(iter([field("task_id", "receipt_fields_v1"), file_part(100), END]),
                          key="refused-then-retried")
    assert retry.status_code == 202 and retry.json()["job_id"] != job["job_id"]
    assert uploader.finished(retry.json()["job_id"])["status"] == "succeeded"


def test_a_client_that_goes_away_midway_leaves_a_canceled_job(uploader: Uploader) -> None:
    before, inputs_before = uploader.extracts(), uploader.inputs_on_disk()
    jobs_before = uploader.job_ids()

    def body() -> Iterator[bytes]:
        yield field("task_id", "receipt_fields_v1")
        for i in range(200, 203):
            yield file_part(i)
        uploader.wait_for_new_extract(before)
        yield file_part(203)[:100]
        raise ConnectionAbortedError("the client gives up")

    with pytest.raises((httpx.HTTPError, ConnectionAbortedError)):
        uploader.post(body())
    deadline = time.monotonic() + 20
    while True:
        jobs = [j for j in uploader.jobs() if j["job_id"] not in jobs_before]
        if jobs and jobs[0]["status"] == "canceled":
            break
        assert time.monotonic() < deadline, jobs
        time.sleep(0.05)
    assert len(jobs) == 1 and jobs[0]["error"]["code"] == "upload_incomplete"
    result = uploader.http.get(f"/v1/jobs/{jobs[0]['job_id']}/result").json()
    assert result["item_count"] >= 1
    assert uploader.inputs_on_disk() - inputs_before == {i["input_ref"] for i in result["items"]}


def test_a_field_after_the_files_restarts_the_batch_with_it(uploader: Uploader) -> None:
    before = uploader.extracts()
    jobs_before = uploader.job_ids()

    def body() -> Iterator[bytes]:
        yield field("task_id", "receipt_fields_v1")
        for i in range(300, 304):
            yield file_part(i)
        uploader.wait_for_new_extract(before)
        yield field("limit", "2") + END

    r = uploader.post(body(), key="late-field")
    assert r.status_code == 202, r.text
    job = uploader.finished(r.json()["job_id"])
    assert job["status"] == "succeeded" and job["result"]["item_count"] == 2  # the late limit applies
    others = [j for j in uploader.jobs() if j["job_id"] not in jobs_before | {job["job_id"]}]
    assert len(others) == 1
    early = uploader.finished(others[0]["job_id"])
    assert early["status"] == "canceled" and early["error"]["code"] == "superseded"
    final = uploader.http.get(f"/v1/jobs/{job['job_id']}/result").json()
    assert all((uploader.artifacts / i["input_ref"]).is_file() for i in final["items"])
    # The key names the batch that ran with every field: the same body again is that job.
    again = uploader.post(iter([field("task_id", "receipt_fields_v1"), *[file_part(i) for i in range(300, 304)],
                                field("limit", "2"), END]), key="late-field")
    assert again.status_code == 202 and again.json()["job_id"] == job["job_id"]
