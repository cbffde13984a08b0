"""Helpers shared by the batch and job API tests."""

from __future__ import annotations

import time
from typing import Any

from tests.api.conftest import Api


def upload(api: Api, files: list[tuple[str, bytes]], role: str = "admin", path: str = "/v1/batch_extract_upload",
           **fields: Any) -> Any:
    data = {"task_id": "receipt_fields_v1", **{k: str(v) for k, v in fields.items()}}
    parts = [("files", (name, content, "image/png")) for name, content in files]
    return api.client.post(path, headers=api.auth(role), data=data, files=parts)


def wait_done(api: Api, job_id: str, role: str = "admin", timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.client.get(f"/v1/jobs/{job_id}?wait=5", headers=api.auth(role)).json()
        if job["status"] in ("succeeded", "failed", "canceled"):
            return job
    raise AssertionError(f"job {job_id} did not finish")
