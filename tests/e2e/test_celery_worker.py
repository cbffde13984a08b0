"""JOBS_BACKEND=celery end to end: `ocr-orchestrator serve` enqueues, `ocr-orchestrator worker`
executes; the API process and the workers share the database (SQLite: the same JOBS_DB_PATH
file; or PostgreSQL) and the artifact storage (local, or S3).

A worker that dies in mid-batch loses no work (ADR 0052, superseding ADR 0005):

* kill -9: the job's heartbeat stops; once it is older than JOBS_STALE_AFTER_S another
  worker's sweep takes the job back and resumes it, reusing the items the dead worker finished.
* SIGTERM (a deploy): the worker stops within seconds — the items in flight finish, the rest
  wait — the job is `queued` again, and the next worker finishes it.

Either way the job ends `succeeded` with every item, each with exactly one extract artifact,
and the dead worker's artifacts untouched.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.backends import (
    FINAL,
    Backend,
    assert_resumed_batch,
    assert_reused_after_kill,
    backend_fixture,  # noqa: F401 - the parametrised fixture "backend"
    events,
    model_calls,
    poll,
    unfinished_jobs,
    unique,
    upload,
)
from tests.support.process import ServiceProcess, create_key
from tests.support.worker_process import WorkerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.services]

ITEMS = 20  # at 2 x 250 ms: a 2.5-second batch
CONCURRENCY = 2
DONE_BEFORE_STOP = 4


class Celery:
    def __init__(self, env: dict[str, str], worker_env: dict[str, str], key: str, http: httpx.Client) -> None:
        self.env, self.worker_env, self.key, self.http = env, worker_env, key, http


@pytest.fixture
def celery(backend: Backend, tmp_path: Path, redis_url: str) -> Iterator[Celery]:
    """The API process in Celery mode, and an admin key; workers are started by the test."""
    # A queue of its own, so concurrent test sessions sharing Redis never take each other's jobs.
    env = {**backend.env, "JOBS_BACKEND": "celery", "CELERY_BROKER_URL": redis_url,
           "CELERY_QUEUE": f"e2e-{uuid.uuid4().hex[:12]}", "LOG_LEVEL": "INFO",
           "JOBS_MAX_CONCURRENCY": "1", "JOBS_HEARTBEAT_S": "1", "JOBS_STALE_AFTER_S": "3"}
    worker_env = {**env, "MOCK_LATENCY_MS": "250"}
    key = create_key(env, unique("celery-e2e"), "admin")
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=30) as http:
        ready = http.get("/v1/ready")  # no worker yet: the broker answers, readiness says no worker
        components = ready.json()["components"]
        assert ready.status_code == 503 and components["broker"]["ok"] is True, ready.text
        assert components["workers"]["ok"] is False and components["workers"]["workers"] == [], ready.text
        yield Celery(env, worker_env, key, http)


def start_mid_batch(celery: Celery, tmp_path: Path) -> tuple[WorkerProcess, str]:
    worker = WorkerProcess(celery.worker_env, tmp_path).start()
    try:
        job_id = upload(celery.http, celery.key, ITEMS, CONCURRENCY)
        job = poll(celery.http, celery.key, job_id, lambda j: j["progress"]["done"] >= DONE_BEFORE_STOP)
        assert job["status"] == "running", job
    except BaseException:
        worker.kill()
        raise
    return worker, job_id


def test_a_worker_killed_mid_batch_is_taken_back_and_resumed_by_another_worker(
        backend: Backend, celery: Celery, tmp_path: Path) -> None:
    first, job_id = start_mid_batch(celery, tmp_path)
    first.kill()
    killed_at = backend.extract_artifacts()
    assert DONE_BEFORE_STOP <= len(killed_at) < ITEMS

    second = WorkerProcess(celery.worker_env, tmp_path).start()
    try:
        # Stale after 3 s without a heartbeat, then swept within a sweep interval (0.75 s).
        final = poll(celery.http, celery.key, job_id, lambda j: j["status"] in FINAL, timeout=25)
        assert final["status"] == "succeeded" and final["error"] is None, final
        result = assert_resumed_batch(celery.http, celery.key, job_id, backend, ITEMS, killed_at)
        assert unfinished_jobs(celery.http, celery.key) == []
    finally:
        assert second.stop() == 0

    records = second.log_records()
    taken = [(r["event"], r.get("job_id")) for r in records if r.get("event") in ("job_stale", "job_start")]
    assert taken == [("job_stale", job_id), ("job_start", job_id)], taken
    assert_reused_after_kill(records, result, killed_at)


def test_a_worker_stopped_by_sigterm_mid_batch_requeues_the_job_for_the_next_worker(
        backend: Backend, celery: Celery, tmp_path: Path) -> None:
    first, job_id = start_mid_batch(celery, tmp_path)
    asked = time.monotonic()
    first.proc.send_signal(signal.SIGTERM)
    try:
        code = first.proc.wait(15)
    finally:
        first.kill()
    took = time.monotonic() - asked
    assert code == 0 and took < 5, (code, took)
    at_stop = backend.extract_artifacts()
    assert DONE_BEFORE_STOP <= len(at_stop) < ITEMS  # the rest of the batch was left for later
    job = celery.http.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": celery.key}).json()
    assert job["status"] == "queued" and job["progress"]["done"] < ITEMS, job
    first_records = first.log_records()
    assert [r["status"] for r in events(first_records, "job_requeued") if r["job_id"] == job_id] == ["queued"]

    second = WorkerProcess(celery.worker_env, tmp_path).start()
    try:
        final = poll(celery.http, celery.key, job_id, lambda j: j["status"] in FINAL, timeout=25)
        assert final["status"] == "succeeded" and final["error"] is None, final
        result = assert_resumed_batch(celery.http, celery.key, job_id, backend, ITEMS, at_stop)
        assert unfinished_jobs(celery.http, celery.key) == []
    finally:
        assert second.stop() == 0

    records = second.log_records()
    assert job_id in {r.get("job_id") for r in events(records, "job_start")}
    assert events(records, "job_stale") == []  # handed over, not taken back
    assert len(events(records, "extract_reused")) == len(at_stop)
    all_items = {i["request_id"] for i in result["items"]}
    assert model_calls(first_records, records) == dict.fromkeys(all_items, 1)  # no item ran twice
    assert len(events(first_records, "extract_end")) == len(at_stop)
    assert len(events(first_records, "extract_end")) + len(events(records, "extract_end")) == ITEMS
