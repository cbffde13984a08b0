"""Storage and database backends for the restart fault tests (issue 11, ADR 0052), and what
those tests check after a resumed batch: every item once, in input order, exactly one extract
artifact each, and the artifacts that existed before the fault untouched.

``backend`` is a parametrised fixture (import ``backend_fixture`` to use it): SQLite + local artifacts, or PostgreSQL + S3 (the moto
server). The PostgreSQL variant gets a database of its own, created next to the session's
``pg_url``: a local runner requeues *every* running job of its database at start, and a Celery
worker's sweep takes back *every* stale one, so a job another test left behind would run here
(and ours there), and "no job left running or queued" could only be asserted per owner.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import AWS_SECRET, base_env
from tests.support.images import image_bytes
from tests.support.pg import fresh_database
from tests.support.process import cli
from tests.support.services import unavailable

FINAL = ("succeeded", "failed", "canceled")
S3_PREFIX = "e2e"

Fingerprint = tuple[Any, ...]


class Backend:
    """Where a test's service keeps its state; ``extract_artifacts`` fingerprints every extract
    artifact in storage (rel → content hash and write time)."""

    name = ""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def extract_artifacts(self) -> dict[str, Fingerprint]:
        raise NotImplementedError


class LocalBackend(Backend):
    name = "sqlite-local"

    def __init__(self, env: dict[str, str], artifacts: Path) -> None:
        super().__init__(env)
        self.artifacts = artifacts

    def extract_artifacts(self) -> dict[str, Fingerprint]:
        root = self.artifacts / "extracts"
        if not root.exists():
            return {}
        # A dot starts the temp files of writes that were cut short (never a key).
        return {str(p.relative_to(self.artifacts)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
                for p in root.rglob("*.json") if not p.name.startswith(".")}


class S3Backend(Backend):
    name = "postgres-s3"

    def __init__(self, env: dict[str, str], client: Any, bucket: str) -> None:
        super().__init__(env)
        self.client = client
        self.bucket = bucket

    def extract_artifacts(self) -> dict[str, Fingerprint]:
        found = {}
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                       Prefix=f"{S3_PREFIX}/extracts/")
        for page in pages:
            for obj in page.get("Contents", []):
                found[obj["Key"].removeprefix(f"{S3_PREFIX}/")] = (obj["ETag"], obj["LastModified"].isoformat())
        return found


@pytest.fixture(name="backend", params=["sqlite-local", pytest.param("postgres-s3", marks=pytest.mark.services)])
def backend_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite-local":
        yield LocalBackend(base_env(tmp_path), tmp_path / "artifacts")
        return
    pg_url = request.getfixturevalue("pg_url")
    endpoint = request.getfixturevalue("s3_endpoint")
    try:
        import boto3
    except ImportError:  # pragma: no cover
        unavailable("boto3 not installed")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key=AWS_SECRET)
    bucket = f"restart-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    # A database of the test's own: a local runner takes back every running job of its database
    # at start, and a Celery sweep every stale one, so tests must not share one.
    with contextlib.ExitStack() as stack:
        try:
            db_url = stack.enter_context(fresh_database(pg_url, prefix="ocr_restart"))
        except Exception as exc:  # noqa: BLE001 - any failure here means "no usable PostgreSQL"
            unavailable(f"cannot create a PostgreSQL database next to {pg_url}: {exc}")
        env = {**base_env(tmp_path), "DATABASE_URL": db_url, "API_KEY_PEPPER": f"pepper-{bucket}",
               "S3_BUCKET": bucket, "S3_ENDPOINT_URL": endpoint, "S3_REGION": "us-east-1",
               "S3_FORCE_PATH_STYLE": "1", "S3_PREFIX": S3_PREFIX, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": AWS_SECRET}
        env.pop("S3_ALLOW_OVERWRITE", None)  # the default: conditional writes, never an overwrite
        upgraded = cli(env, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        yield S3Backend(env, s3, bucket)


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


# -- driving a batch -------------------------------------------------------------------------

def item_names(count: int) -> list[str]:
    return [f"img{i:03d}.png" for i in range(count)]


def upload(http: httpx.Client, key: str, count: int, concurrency: int) -> str:
    # Distinct sizes: distinct bytes, so no item could pass for another one's reuse.
    files = [("files", (name, image_bytes(size=(24 + i % 50, 24 + i // 50)), "image/png"))
             for i, name in enumerate(item_names(count))]
    r = http.post("/v1/batch_extract_upload_async", headers={"X-API-Key": key}, files=files,
                  data={"task_id": "receipt_fields_v1", "concurrency": str(concurrency)})
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def poll(http: httpx.Client, key: str, job_id: str, until: Callable[[dict[str, Any]], bool],
         timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = http.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": key}).json()
        if until(job):
            return job
        assert time.monotonic() < deadline, f"job {job_id} never got there: {job}"
        time.sleep(0.05)


def unfinished_jobs(http: httpx.Client, key: str) -> list[dict[str, Any]]:
    """Running or queued jobs of the whole database (``key`` is an admin's)."""
    return [job for status in ("running", "queued")
            for job in http.get("/v1/jobs", headers={"X-API-Key": key}, params={"status": status}).json()["items"]]


def request_id_of(rel: str) -> str:
    return PurePosixPath(rel).stem


def assert_resumed_batch(http: httpx.Client, key: str, job_id: str, backend: Backend, count: int,
                         before: dict[str, Fingerprint]) -> dict[str, Any]:
    """The job's result and its run list every item once, in input order; each item has exactly
    one extract artifact and there are no others; the artifacts in ``before`` are untouched."""
    r = http.get(f"/v1/jobs/{job_id}/result", headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    result = r.json()
    items = result["items"]
    assert [i["file"] for i in items] == item_names(count)
    assert result["item_count"] == result["ok_count"] == count, [i["error"] for i in items if not i["ok"]]
    rels = [i["artifact_rel"] for i in items]
    assert all(rels) and len(set(rels)) == count
    assert [request_id_of(rel) for rel in rels] == [i["request_id"] for i in items]
    after = backend.extract_artifacts()
    assert sorted(after) == sorted(rels)  # exactly one artifact per item, none besides
    assert {rel: after[rel] for rel in before} == before  # never rewritten
    run = http.get(f"/v1/runs/{result['run_id']}", headers={"X-API-Key": key})
    assert run.status_code == 200, run.text
    assert [(i["file"], i["artifact_rel"], i["ok"]) for i in run.json()["items"]] == \
        [(i["file"], i["artifact_rel"], True) for i in items]
    return result


def assert_reused_after_kill(records: list[dict[str, Any]], result: dict[str, Any],
                             at_kill: dict[str, Fingerprint]) -> None:
    """The process that resumed a job after a kill -9 reused every item whose artifact existed
    at the kill (a write cut short between the artifact and its index entry is repaired) and
    called the model once for each of the others, never for a reused one.

    Reused items are counted, not matched to ``at_kill`` exactly: an S3 PUT sent just before
    the kill may land on the server after ``at_kill`` was listed; that item is then reused too.
    """
    reused = events(records, "extract_reused")
    called = model_calls(records)
    done_at_kill = {request_id_of(rel) for rel in at_kill}
    assert set(called.values()) <= {1} and not done_at_kill & set(called), called
    assert len(reused) >= len(at_kill) and len(reused) + len(called) == len(result["items"]), \
        (len(reused), len(at_kill), len(called))
    assert set(called) <= {i["request_id"] for i in result["items"]}


# -- reading the processes' logs --------------------------------------------------------------

def events(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("event") == name]


def model_calls(*logs: list[dict[str, Any]]) -> Counter[str]:
    """Model calls per request id, across the given processes' logs."""
    return Counter(r["request_id"] for records in logs for r in events(records, "inference_call_start"))


def json_lines(path: Path) -> list[dict[str, Any]]:
    """A log's JSON records; a last line cut short by kill -9 is skipped."""
    records = []
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            if line.startswith("{"):
                records.append(json.loads(line))
    return records
