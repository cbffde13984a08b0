"""``serve`` on S3 storage whose bucket does not exist (issue 14): without S3_CREATE_BUCKET,
``/v1/ready`` and a write's 503 name the bucket and the fix; with S3_CREATE_BUCKET=1 the bucket
is created at startup and the service works."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import s3_env  # noqa: F401 - the fixture this module's `env` extends
from tests.support.images import image_bytes
from tests.support.process import ServiceProcess, create_key

pytestmark = [pytest.mark.e2e, pytest.mark.services]


@pytest.fixture
def env(request: pytest.FixtureRequest) -> dict[str, str]:
    return {**request.getfixturevalue("s3_env"), "S3_BUCKET": f"e2e-missing-{uuid.uuid4().hex[:12]}", "LOG_LEVEL": "WARNING"}


def extract(http: httpx.Client, key: str, request_id: str) -> httpx.Response:
    b64 = base64.b64encode(image_bytes("JPEG", (320, 240))).decode()
    return http.post("/v1/extract", headers={"Authorization": f"Bearer {key}"},
                     json={"task_id": "receipt_fields_v1", "image_base64": b64, "request_id": request_id})


def test_a_missing_bucket_is_named_with_its_fix_then_created_by_s3_create_bucket(
    tmp_path: Path, env: dict[str, str],
) -> None:
    bucket = env["S3_BUCKET"]
    fix = f"create bucket {bucket} or set S3_CREATE_BUCKET=1"
    key = create_key(env, "admin-bucket", "admin")
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=30) as http:
        ready = http.get("/v1/ready")
        assert ready.status_code == 503
        storage = ready.json()["components"]["storage"]
        assert storage["ok"] is False and fix in storage["message"], storage
        refused = extract(http, key, "bucket-1")
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert error["code"] == "storage_unavailable" and error["details"]["retryable"] is False
        assert error["details"]["bucket"] == bucket
        assert fix in error["message"], error

    with ServiceProcess({**env, "S3_CREATE_BUCKET": "1"}, tmp_path) as service, \
            httpx.Client(base_url=service.base_url, timeout=30) as http:
        assert http.get("/v1/ready").json()["components"]["storage"]["ok"] is True
        done = extract(http, key, "bucket-2")
        assert done.status_code == 200 and done.json()["error"] is None, done.text
