"""Outages and database faults under the real `ocr-orchestrator serve` (issue 11, ADRs 0042,
0052, 0053): the object store and the model server down for 10 s in mid-batch, an outage
longer than OUTAGE_MAX_WAIT_S and the rerun of its failures, PostgreSQL connections killed
under load, a SQLite database locked past its busy timeout, and a full disk."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.test_serve import base_env
from tests.support.images import image_bytes
from tests.support.job_watch import TERMINAL, JobWatch, post_upload_batch
from tests.support.openai_process import OpenAIServerProcess
from tests.support.process import ServiceProcess, cli, create_key
from tests.support.tcp_proxy import TcpProxy
from tests.support.tmpfs import mounted_tmpfs

pytestmark = pytest.mark.e2e

OUTAGE_S = 10.0
S3_KEY, S3_SECRET = "testing", "outage-secret"


def files(count: int) -> list[str]:
    return [f"img{i:03d}.png" for i in range(count)]


def events(service: ServiceProcess, name: str) -> list[dict[str, Any]]:
    return [r for r in service.log_records() if r.get("event") == name]


def assert_every_item_ok(result: dict[str, Any], count: int) -> None:
    assert [i["file"] for i in result["items"]] == files(count)
    failed = [(i["file"], i["error"]) for i in result["items"] if not i["ok"]]
    assert failed == [] and result["item_count"] == result["ok_count"] == count, failed


# --- the object store --------------------------------------------------------------------------


@pytest.fixture
def proxied_s3(tmp_path: Path, s3_endpoint: str) -> Iterator[tuple[dict[str, str], TcpProxy, Any]]:
    """The service's S3 goes through a proxy that the test can take down (moto keeps its
    buckets in memory: restarting it would lose them)."""
    import boto3

    target = urlsplit(s3_endpoint)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id=S3_KEY,
                      aws_secret_access_key=S3_SECRET)
    bucket = f"outage-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 80) as proxy:
        env = {**base_env(tmp_path), "S3_BUCKET": bucket, "S3_ENDPOINT_URL": proxy.url, "S3_REGION": "us-east-1",
               "S3_FORCE_PATH_STYLE": "1", "S3_PREFIX": "e2e", "AWS_ACCESS_KEY_ID": S3_KEY,
               "AWS_SECRET_ACCESS_KEY": S3_SECRET}
        yield env, proxy, s3


def test_object_store_down_10s_in_mid_batch(tmp_path: Path, proxied_s3: tuple[dict[str, str], TcpProxy, Any]) -> None:
    env, proxy, s3 = proxied_s3
    env = {**env, "MOCK_LATENCY_MS": "150"}
    key = create_key(env, "outage-s3", "client")
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=30) as http:
        watch = JobWatch(http, key, post_upload_batch(http, key, 30, concurrency=4))
        at_outage = watch.until(lambda j: j["progress"]["done"] >= 4, 20, "got 4 items done")
        proxy.down()
        try:
            watch.watch(OUTAGE_S)
            during = watch.last
        finally:
            proxy.up()
        final = watch.finished(40)
        result = watch.result()

    assert at_outage["progress"]["done"] < 30 and during["status"] == "running"
    assert "waiting_for_storage" in watch.stages, watch.stages
    assert final["status"] == "succeeded", final
    assert_every_item_ok(result, 30)
    prefix = "e2e/extracts/"
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=env["S3_BUCKET"], Prefix=prefix)
            for o in page.get("Contents", [])]
    assert sorted(keys) == sorted(f"e2e/{i['artifact_rel']}" for i in result["items"])  # one artifact per item
    stored = json.loads(s3.get_object(Bucket=env["S3_BUCKET"], Key=f"e2e/{result['artifact_rel']}")["Body"].read())
    assert [i["file"] for i in stored["items"]] == files(30) and all(i["ok"] for i in stored["items"])
    assert any(r.get("dependency") == "storage" for r in events(service, "outage_start"))


# --- the model server --------------------------------------------------------------------------


@pytest.fixture
def model_server() -> Iterator[OpenAIServerProcess]:
    server = OpenAIServerProcess("Qwen/Qwen3-VL-8B-Instruct").start()
    try:
        yield server
    finally:
        server.stop()


def vllm_env(tmp_path: Path, server: OpenAIServerProcess, **extra: str) -> dict[str, str]:
    return {**base_env(tmp_path), "INFERENCE_BACKEND": "vllm", "VLLM_BASE_URL": server.url,
            "VLLM_MODEL": server.model, "VLLM_RETRY_MAX_ATTEMPTS": "2", "VLLM_READ_TIMEOUT_S": "10",
            "VLLM_CONNECT_TIMEOUT_S": "2", "LOG_LEVEL": "WARNING", **extra}


def slow_answers(count: int, seconds: float = 0.25) -> list[dict[str, Any]]:
    return [{"kind": "delay", "seconds": seconds}] * count


def test_model_server_down_10s_in_mid_batch(tmp_path: Path, model_server: OpenAIServerProcess) -> None:
    env = vllm_env(tmp_path, model_server)
    key = create_key(env, "outage-model", "client")
    model_server.script(*slow_answers(40))
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=30) as http:
        watch = JobWatch(http, key, post_upload_batch(http, key, 40, concurrency=4))
        at_outage = watch.until(lambda j: j["progress"]["done"] >= 6, 20, "got 6 items done")
        model_server.kill()
        watch.watch(OUTAGE_S)
        during = watch.last
        model_server.start()
        final = watch.finished(40)
        result = watch.result()

    assert at_outage["progress"]["done"] < 40 and during["status"] == "running"
    assert "waiting_for_model" in watch.stages, watch.stages
    assert final["status"] == "succeeded", final
    assert_every_item_ok(result, 40)
    artifacts = [json.loads((tmp_path / "artifacts" / i["artifact_rel"]).read_text()) for i in result["items"]]
    assert [a for a in artifacts if a["error"] is not None] == []
    assert len(list((tmp_path / "artifacts" / "extracts").rglob("*.json"))) == 40
    assert model_server.chat_requests(), "the restarted model server answered the rest"


def test_outage_longer_than_the_wait_fails_the_rest_and_only_failed_reruns_them(
        tmp_path: Path, model_server: OpenAIServerProcess) -> None:
    env = vllm_env(tmp_path, model_server, OUTAGE_MAX_WAIT_S="2")
    key = create_key(env, "outage-long", "client")
    auth = {"X-API-Key": key}
    model_server.script(*slow_answers(20, 0.2))
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=60) as http:
        watch = JobWatch(http, key, post_upload_batch(http, key, 20, concurrency=2))
        watch.until(lambda j: j["progress"]["done"] >= 4, 20, "got 4 items done")
        model_server.kill()
        final = watch.finished(30)
        source = watch.result()
        assert final["status"] == "succeeded", final  # item failures are results
        assert [i["file"] for i in source["items"]] == files(20)
        failed = [n for n, i in enumerate(source["items"]) if not i["ok"]]
        assert 0 < len(failed) <= 16 and source["error_count"] == len(failed), source["ok_count"]
        assert {source["items"][n]["error"]["code"] for n in failed} == {"upstream_unavailable"}
        assert "waiting_for_model" in watch.stages, watch.stages

        model_server.start()
        r = http.post("/v1/batch_extract_rerun", headers=auth,
                      json={"task_id": "receipt_fields_v1", "run_id": source["run_id"], "only_failed": True})
        assert r.status_code == 200, r.text
        rerun = r.json()

    assert rerun["run_id"] != source["run_id"]
    assert_every_item_ok(rerun, 20)
    for n, (old, new) in enumerate(zip(source["items"], rerun["items"], strict=True)):
        if n not in failed:
            assert new == old  # kept as the source run had it: no model call
        else:
            assert new["request_id"] != old["request_id"] and new["artifact_rel"] != old["artifact_rel"]
    called = sorted(q["headers"]["x-request-id"] for q in model_server.chat_requests())
    assert called == sorted(rerun["items"][n]["request_id"] for n in failed)  # exactly the failures, once each


# --- the databases -----------------------------------------------------------------------------


def submit_extracts(http: httpx.Client, key: str, count: int, tag: str) -> dict[str, str]:
    """``count`` async extract jobs; job id → request id."""
    jobs = {}
    for n in range(count):
        b64 = base64.b64encode(image_bytes(size=(40 + n, 30))).decode()
        request_id = f"{tag}-{n:03d}"
        r = http.post("/v1/extract_async", headers={"X-API-Key": key},
                      json={"task_id": "receipt_fields_v1", "image_base64": b64, "mime_type": "image/png",
                            "request_id": request_id})
        assert r.status_code == 202, r.text
        jobs[r.json()["job_id"]] = request_id
    return jobs


def all_finished(http: httpx.Client, key: str, job_ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    """Every job polled to a terminal state (a 503 while the database recovers is asked again)."""
    watches = {job_id: JobWatch(http, key, job_id) for job_id in job_ids}
    deadline = time.monotonic() + timeout
    final: dict[str, dict[str, Any]] = {}
    while len(final) < len(watches):
        for job_id, watch in watches.items():
            if job_id not in final and (job := watch.get()) is not None and job["status"] in TERMINAL:
                final[job_id] = job
        stuck = {j: w.last.get("status") for j, w in watches.items() if j not in final}
        assert time.monotonic() < deadline, f"jobs not terminal: {stuck}"
        time.sleep(0.1)
    return final


async def terminate_connections(dsn: str, database: str, times: int, every_s: float) -> int:
    """Kill every other connection to ``database`` ``times`` times; how many were killed."""
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    killed = 0
    try:
        for _ in range(times):
            killed += len(await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()", database))
            await asyncio.sleep(every_s)
    finally:
        await conn.close()
    return killed


def test_postgres_connections_killed_under_load(tmp_path: Path, pg_url: str) -> None:
    env = {**base_env(tmp_path), "DATABASE_URL": pg_url, "API_KEY_PEPPER": "outage-pg-pepper",
           "MOCK_LATENCY_MS": "300", "JOBS_MAX_CONCURRENCY": "4", "JOBS_HEARTBEAT_S": "1",
           "JOBS_STALE_AFTER_S": "3", "LOG_LEVEL": "INFO"}
    upgraded = cli(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    tag = f"pgkill-{uuid.uuid4().hex[:8]}"
    key = create_key(env, tag, "client")
    dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    database = dsn.rsplit("/", 1)[1]
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=60) as http:
        batch_id = post_upload_batch(http, key, 20, concurrency=2)
        extracts = submit_extracts(http, key, 30, tag)
        killed = asyncio.run(terminate_connections(dsn, database, times=40, every_s=0.1))
        final = all_finished(http, key, [batch_id, *extracts], timeout=40)
        succeeded = [j for j, job in final.items() if job["status"] == "succeeded"]
        results = {}
        for job_id in succeeded:
            r = http.get(f"/v1/jobs/{job_id}/result", headers={"X-API-Key": key})
            assert r.status_code == 200, (job_id, r.text)
            results[job_id] = r.json()
        indexed = {rid: http.get(f"/v1/runs/item/{rid}", headers={"X-API-Key": key}).status_code
                   for job_id, rid in extracts.items() if job_id in succeeded}
        written = sorted(p.stem for p in (tmp_path / "artifacts" / "extracts").rglob("*.json"))
        unindexed = {rid: r.status_code for rid in written
                     if (r := http.get(f"/v1/runs/item/{rid}", headers={"X-API-Key": key})).status_code != 200}

    assert killed >= 40, killed
    assert (events(service, "state_write_retry") or events(service, "outage_start")
            or events(service, "dependency_call_failed")), "no kill hit a query"
    unsuccessful = {j: (job["kind"], job["status"], job["error"]) for j, job in final.items()
                    if job["status"] != "succeeded"}
    assert unsuccessful == {}
    assert indexed and set(indexed.values()) == {200}, indexed
    assert len(written) >= len(succeeded) and unindexed == {}  # every extract artifact written is indexed
    for job_id in succeeded:
        if job_id in extracts:
            assert results[job_id]["request_id"] == extracts[job_id]
        else:
            assert_every_item_ok(results[job_id], 20)


def test_sqlite_locked_past_the_busy_timeout(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "MOCK_LATENCY_MS": "1500", "JOBS_MAX_CONCURRENCY": "4", "LOG_LEVEL": "WARNING"}
    key = create_key(env, "outage-lock", "client")
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=60) as http:
        jobs = submit_extracts(http, key, 8, "locked")
        batch_id = post_upload_batch(http, key, 6, concurrency=2)
        JobWatch(http, key, next(iter(jobs))).until(lambda j: j["status"] == "running", 10, "started")
        lock = sqlite3.connect(env["JOBS_DB_PATH"], timeout=10, isolation_level=None)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            locked_at = time.monotonic()
            while time.monotonic() - locked_at < 7:  # past the service's 5 s busy timeout
                time.sleep(0.2)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        final = all_finished(http, key, [*jobs, batch_id], timeout=40)
        results = {j: http.get(f"/v1/jobs/{j}/result", headers={"X-API-Key": key}) for j in final}

    unsuccessful = {j: (job["kind"], job["status"], job["error"]) for j, job in final.items()
                    if job["status"] != "succeeded"}
    assert unsuccessful == {}
    assert {r.status_code for r in results.values()} == {200}
    assert [i["ok"] for i in results[batch_id].json()["items"]] == [True] * 6
    assert [results[j].json()["request_id"] for j in jobs] == list(jobs.values())
    assert (events(service, "state_write_retry") or events(service, "outage_start")
            or events(service, "dependency_call_failed")), "the lock was never hit"


# --- a full disk -------------------------------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """ARTIFACTS_DIR on a real 16 MiB filesystem (needs root and permission to mount)."""
    with mounted_tmpfs(tmp_path / "artifacts", "16m") as mount_point:
        yield mount_point


def fill(mount_point: Path, leave_bytes: int) -> Path:
    """A ballast file that leaves about ``leave_bytes`` free."""
    stat = os.statvfs(mount_point)
    size = stat.f_bavail * stat.f_frsize - leave_bytes
    ballast = mount_point / "ballast"
    with ballast.open("wb") as out:
        for _ in range(size // (1 << 20)):
            out.write(b"\0" * (1 << 20))
        out.write(b"\0" * (size % (1 << 20)))
    return ballast


def test_full_disk_pauses_a_batch_until_space_returns(tmp_path: Path, small_tmpfs: Path) -> None:
    env = {**base_env(tmp_path), "ARTIFACTS_DIR": str(small_tmpfs), "STORAGE_MIN_FREE_MB": "8",
           "MOCK_LATENCY_MS": "200", "LOG_LEVEL": "WARNING"}
    key = create_key(env, "outage-disk", "client")
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=30) as http:
        assert http.get("/v1/ready").status_code == 200
        watch = JobWatch(http, key, post_upload_batch(http, key, 40, concurrency=2))
        watch.until(lambda j: j["progress"]["done"] >= 4, 20, "got 4 items done")
        ballast = fill(small_tmpfs, leave_bytes=4 << 20)  # below the 8 MiB floor, with room to write
        try:
            ready = http.get("/v1/ready")
            waiting = watch.until(lambda j: j["progress"]["stage"] == "waiting_for_storage", 15, "waited")
            watch.watch(2)
            still = watch.last
        finally:
            ballast.unlink()
        final = watch.finished(40)
        result = watch.result()
        ready_after = http.get("/v1/ready")

    assert ready.status_code == 503 and ready.json()["components"]["storage"]["ok"] is False, ready.text
    assert waiting["status"] == still["status"] == "running" and waiting["progress"]["done"] < 40
    assert still["progress"]["done"] <= waiting["progress"]["done"] + 2  # at most the items in flight
    assert final["status"] == "succeeded", final
    assert_every_item_ok(result, 40)
    assert len(list((small_tmpfs / "extracts").rglob("*.json"))) == 40
    assert ready_after.status_code == 200 and ready_after.json()["components"]["storage"]["ok"] is True
