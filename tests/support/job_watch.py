"""Driving jobs of a real ``serve`` process over HTTP: upload batches, and polling a job while
remembering every progress stage it showed (an outage shows up as a stage)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.images import image_bytes

TERMINAL = frozenset({"succeeded", "failed", "canceled"})


def upload_files(count: int, prefix: str = "img") -> list[tuple[str, tuple[str, bytes, str]]]:
    """``count`` distinct small PNGs (distinct bytes: stored inputs are keyed by their hash)."""
    return [("files", (f"{prefix}{i:03d}.png", image_bytes(size=(24 + i % 50, 24 + i // 50)), "image/png"))
            for i in range(count)]


def post_upload_batch(http: httpx.Client, key: str, count: int, *, task_id: str = "receipt_fields_v1",
                      **fields: Any) -> str:
    data = {"task_id": task_id, **{k: str(v) for k, v in fields.items()}}
    r = http.post("/v1/batch_extract_upload_async", headers={"X-API-Key": key}, data=data,
                  files=upload_files(count))
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


class JobWatch:
    """Polls ``GET /v1/jobs/{id}``; keeps every stage seen and every answer's status."""

    def __init__(self, http: httpx.Client, key: str, job_id: str) -> None:
        self.http, self.key, self.job_id = http, key, job_id
        self.stages: list[str] = []
        self.statuses: list[int] = []
        self.last: dict[str, Any] = {}

    def get(self) -> dict[str, Any] | None:
        """The job now; None when the service answered 503 (a database blip)."""
        r = self.http.get(f"/v1/jobs/{self.job_id}", headers={"X-API-Key": self.key})
        self.statuses.append(r.status_code)
        if r.status_code == 503:
            return None
        assert r.status_code == 200, r.text
        self.last = r.json()
        stage = (self.last.get("progress") or {}).get("stage")
        if stage and (not self.stages or self.stages[-1] != stage):
            self.stages.append(stage)
        return self.last

    def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str = "") -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get()
            if job is not None and predicate(job):
                return job
            assert time.monotonic() < deadline, f"job {self.job_id} never {what or 'got there'}: {self.last}"
            time.sleep(0.05)

    def watch(self, seconds: float) -> None:
        """Keep polling for ``seconds`` (while a fault lasts), recording stages."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.get()
            time.sleep(0.05)

    def finished(self, timeout: float) -> dict[str, Any]:
        return self.until(lambda j: j["status"] in TERMINAL, timeout, "finished")

    def result(self) -> dict[str, Any]:
        r = self.http.get(f"/v1/jobs/{self.job_id}/result", headers={"X-API-Key": self.key})
        assert r.status_code == 200, r.text
        return r.json()
