"""Restarts of the real `ocr-orchestrator serve` (local runner) in the middle of an upload batch,
on SQLite + local storage and on PostgreSQL + S3 (issue 11, ADR 0052).

* kill -9: the next start requeues the running job and resumes it; the items finished before
  the kill are reused, not redone; the job ends `succeeded` with every item.
* SIGTERM: the process stops within seconds (the items in flight finish, the rest wait), the job
  goes back to `queued`, and the next start finishes it without running any item twice.

Either way every item has exactly one extract artifact, and the artifacts that existed at the
stop are byte-identical afterwards (S3: same ETag and LastModified, with overwrites refused by
default — S3_ALLOW_OVERWRITE unset).
"""

from __future__ import annotations

import signal
import time
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
    json_lines,
    model_calls,
    poll,
    unfinished_jobs,
    unique,
    upload,
)
from tests.support.process import ServiceProcess, create_key

pytestmark = pytest.mark.e2e

ITEMS = 40  # at 2 x 150 ms: a 3-second batch
CONCURRENCY = 2
DONE_BEFORE_STOP = 6


def local_runner_env(backend: Backend) -> dict[str, str]:
    return {**backend.env, "JOBS_BACKEND": "local", "MOCK_LATENCY_MS": "150", "LOG_LEVEL": "INFO"}


def start_mid_batch(env: dict[str, str], tmp_path: Path, key: str) -> tuple[ServiceProcess, str]:
    """A running service and its upload batch with at least DONE_BEFORE_STOP items done."""
    service = ServiceProcess(env, tmp_path).start()
    try:
        with httpx.Client(base_url=service.base_url, timeout=30) as http:
            job_id = upload(http, key, ITEMS, CONCURRENCY)
            job = poll(http, key, job_id, lambda j: j["progress"]["done"] >= DONE_BEFORE_STOP)
            assert job["status"] == "running", job
    except BaseException:
        service.stop(signal.SIGKILL)
        raise
    return service, job_id


def test_kill_9_of_serve_mid_batch_then_restart_resumes_the_job(backend: Backend, tmp_path: Path) -> None:
    env = local_runner_env(backend)
    key = create_key(env, unique("restart-kill"), "admin")
    first, job_id = start_mid_batch(env, tmp_path, key)
    first.stop(signal.SIGKILL)
    at_kill = backend.extract_artifacts()
    assert DONE_BEFORE_STOP <= len(at_kill) < ITEMS  # killed mid-batch

    with ServiceProcess(env, tmp_path) as second, httpx.Client(base_url=second.base_url, timeout=30) as http:
        final = poll(http, key, job_id, lambda j: j["status"] in FINAL)
        assert final["status"] == "succeeded" and final["error"] is None, final
        assert final["progress"]["done"] == ITEMS
        result = assert_resumed_batch(http, key, job_id, backend, ITEMS, at_kill)
        assert unfinished_jobs(http, key) == []

    records = json_lines(second.log_path)
    recovery = events(records, "job_recovery")
    # Requeued as it was found running, then enqueued with the queued ones.
    assert [(r["resumed"], r["queued"]) for r in recovery] == [(1, 1)], recovery
    assert job_id in {r.get("job_id") for r in events(records, "job_start")}
    assert_reused_after_kill(records, result, at_kill)


def test_sigterm_of_serve_mid_batch_requeues_the_job_and_the_next_start_finishes_it(
        backend: Backend, tmp_path: Path) -> None:
    env = local_runner_env(backend)
    key = create_key(env, unique("restart-term"), "admin")
    first, job_id = start_mid_batch(env, tmp_path, key)
    asked = time.monotonic()
    first.proc.send_signal(signal.SIGTERM)
    try:
        code = first.proc.wait(15)
    finally:
        first.stop(signal.SIGKILL)
    took = time.monotonic() - asked
    assert code == 0 and took < 5, (code, took)
    at_stop = backend.extract_artifacts()
    assert DONE_BEFORE_STOP <= len(at_stop) < ITEMS  # the rest of the batch was left for later
    first_records = json_lines(first.log_path)
    assert [r["status"] for r in events(first_records, "job_requeued") if r["job_id"] == job_id] == ["queued"]

    with ServiceProcess(env, tmp_path) as second, httpx.Client(base_url=second.base_url, timeout=30) as http:
        final = poll(http, key, job_id, lambda j: j["status"] in FINAL)
        assert final["status"] == "succeeded" and final["error"] is None, final
        result = assert_resumed_batch(http, key, job_id, backend, ITEMS, at_stop)
        assert unfinished_jobs(http, key) == []

    records = json_lines(second.log_path)
    # It was queued, not running, when the second process started: the first one put it back.
    assert [(r["resumed"], r["queued"]) for r in events(records, "job_recovery")] == [(0, 1)]
    assert len(events(records, "extract_reused")) == len(at_stop)
    # No model call wasted: every item met the model exactly once across both processes.
    all_items = {i["request_id"] for i in result["items"]}
    assert model_calls(first_records, records) == dict.fromkeys(all_items, 1)
    assert len(events(first_records, "extract_end")) + len(events(records, "extract_end")) == ITEMS
    assert len(events(first_records, "extract_end")) == len(at_stop)
