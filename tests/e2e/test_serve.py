"""The real process: `ocr-orchestrator serve` driven over HTTP with a key made by the CLI,
in local and S3 storage modes; and the logs never carry secrets or images."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.images import image_bytes
from tests.support.process import BIN, ServiceProcess, cli, create_key
from tests.support.services import free_port, port_open

pytestmark = pytest.mark.e2e

AWS_SECRET = "e2e-aws-secret-" + uuid.uuid4().hex


def base_env(tmp: Path) -> dict[str, str]:
    return {
        "ARTIFACTS_DIR": str(tmp / "artifacts"), "DATA_ROOT": str(tmp / "data"),
        "JOBS_DB_PATH": str(tmp / "db" / "jobs.db"), "AUTH_DB_PATH": str(tmp / "db" / "auth.db"),
        "PEPPER_FILE": str(tmp / "secrets" / "pepper"), "LOG_FORMAT": "json", "LOG_LEVEL": "INFO",
        "S3_BUCKET": "", "DATABASE_URL": "", "INFERENCE_BACKEND": "mock", "AUTH_ENABLED": "1",
    }


@pytest.fixture
def s3_env(tmp_path: Path, s3_endpoint: str) -> dict[str, str]:
    import boto3

    bucket = f"e2e-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key=AWS_SECRET).create_bucket(Bucket=bucket)
    return {**base_env(tmp_path), "S3_BUCKET": bucket, "S3_ENDPOINT_URL": s3_endpoint, "S3_REGION": "us-east-1",
            "S3_FORCE_PATH_STYLE": "1", "S3_PREFIX": "e2e", "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": AWS_SECRET}


def drive(service: ServiceProcess, api_key: str, client_key: str) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=service.base_url, timeout=30) as http:
        assert http.get("/v1/ready").json()["ok"] is True
        assert http.get("/v1/me", headers=auth).json()["role"] == "admin"
        assert len(http.get("/v1/tasks", headers={"X-API-Key": client_key}).json()["items"]) == 4
        b64 = base64.b64encode(image_bytes("JPEG", (320, 240))).decode()
        body = {"task_id": "receipt_fields_v1", "image_base64": b64, "request_id": "e2e-1"}
        r = http.post("/v1/extract", headers=auth, json=body)
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["error"] is None and result["schema_valid"] is True
        stored = http.get("/v1/runs/item/e2e-1", headers=auth).json()
        assert stored["parsed"] == result["parsed"] and stored["auth"]["key_id"].startswith("admin")
        dup = http.post("/v1/extract", headers=auth, json=body)
        assert dup.status_code == 409 and dup.json()["error"]["code"] == "artifact_exists"
        assert http.get("/v1/runs/item/e2e-1", headers=auth).json() == stored
        failed = http.post("/v1/extract", headers={"X-API-Key": client_key},
                           json={**body, "request_id": "mock_fail_upstream_e2e"})
        assert failed.status_code == 200 and failed.json()["error"]["code"] == "upstream_unavailable"
        assert http.get("/v1/runs/item/mock_fail_upstream_e2e", headers=auth).status_code == 200
        assert http.get("/v1/me", headers={"Authorization": "Bearer wrong"}).status_code == 401
        return {"b64": b64, "result": result}


def assert_clean_logs(service: ServiceProcess, secrets: list[str], b64: str) -> None:
    text = service.logs()
    for secret in secrets:
        assert secret not in text
    assert "Bearer" not in text and "authorization" not in text.lower()
    assert b64[:60] not in text and b64[-60:] not in text
    records = service.log_records()
    events = {r.get("event") for r in records}
    assert {"request_start", "request_end", "inference_call_end", "storage_put"} <= events, events
    ends = [r for r in records if r.get("event") == "request_end" and r.get("path") == "/v1/extract"]
    assert ends and all(r["request_id"] and "duration_ms" in r and "status" in r for r in ends)


def test_serve_with_local_storage(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    admin = create_key(env, "admin-e2e", "admin")
    client = create_key(env, "client-e2e", "client")
    listed = [json.loads(line) for line in cli(env, "keys", "list").stdout.splitlines()]
    assert {k["key_id"] for k in listed} == {"admin-e2e", "client-e2e"} and "api_key" not in listed[0]
    with ServiceProcess(env, tmp_path) as service:
        out = drive(service, admin, client)
        artifact = tmp_path / "artifacts" / out["result"]["artifact_rel"]
        assert json.loads(artifact.read_text())["request_id"] == "e2e-1"
        assert cli(env, "keys", "revoke", "--key-id", "client-e2e").returncode == 0
    assert_clean_logs(service, [admin, client], out["b64"])
    with ServiceProcess(env, tmp_path) as restarted:  # same pepper file, same database: keys survive
        assert httpx.get(f"{restarted.base_url}/v1/me", headers={"X-API-Key": admin}).status_code == 200
        r = httpx.get(f"{restarted.base_url}/v1/me", headers={"X-API-Key": client})
        assert r.status_code == 401 and r.json()["error"]["code"] == "auth_invalid"


def test_serve_with_s3_storage(tmp_path: Path, s3_env: dict[str, str], s3_endpoint: str) -> None:
    import boto3

    admin = create_key(s3_env, "admin-s3", "admin")
    client = create_key(s3_env, "client-s3", "client")
    with ServiceProcess(s3_env, tmp_path) as service:
        out = drive(service, admin, client)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key=AWS_SECRET)
    key = f"e2e/{out['result']['artifact_rel']}"
    stored = json.loads(s3.get_object(Bucket=s3_env["S3_BUCKET"], Key=key)["Body"].read())
    assert stored["request_id"] == "e2e-1" and not (tmp_path / "artifacts").exists()
    assert_clean_logs(service, [admin, client, AWS_SECRET], out["b64"])


def test_cli_rejects_bad_roles_and_duplicate_keys(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    assert cli(env, "keys", "create", "--key-id", "x", "--role", "root").returncode != 0
    create_key(env, "dup", "client")
    again = cli(env, "keys", "create", "--key-id", "dup", "--role", "client")
    assert again.returncode == 1 and "error" in again.stderr
    assert cli(env, "keys", "revoke", "--key-id", "ghost").returncode == 1


def test_several_workers_with_the_local_runner_are_refused(tmp_path: Path) -> None:
    # Each worker would run its own job runner and take the others' jobs after a restart.
    env = {**base_env(tmp_path), "JOBS_BACKEND": "local"}
    port = free_port()
    result = cli(env, "serve", "--workers", "2", "--port", str(port), timeout=30)
    assert result.returncode == 2, result.stderr
    assert "--workers 2" in result.stderr and "JOBS_BACKEND=celery" in result.stderr
    assert "Uvicorn running" not in result.stdout + result.stderr
    assert not port_open("127.0.0.1", port)


def test_several_workers_with_celery_are_served(tmp_path: Path) -> None:
    # No broker is needed to serve /v1/health; an unused port keeps the test self-contained.
    env = {**os.environ, **base_env(tmp_path), "JOBS_BACKEND": "celery",
           "CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    port = free_port()
    log_path = tmp_path / "serve-workers.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(BIN), "serve", "--workers", "2", "--port", str(port)], env=env,
                                stdout=log, stderr=subprocess.STDOUT)

    def workers_started() -> int:
        lines = log_path.read_text().splitlines()
        records = [json.loads(line) for line in lines if line.startswith("{")]
        return sum(r["msg"].startswith("Started server process") for r in records)

    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log_path.read_text()
            with contextlib.suppress(httpx.HTTPError):
                health = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1)
                if health.status_code == 200 and workers_started() == 2:
                    break
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
