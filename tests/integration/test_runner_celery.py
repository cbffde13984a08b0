"""The Celery runner: the test process submits through ``CeleryJobQueue`` (Redis broker, a
queue of its own per test) and a REAL ``ocr-orchestrator worker`` process executes, both on
one SQLite job database (JOBS_DB_PATH) and one artifacts directory."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from dependency_injector import providers

from adapters.runner.celery import CeleryJobQueue
from domain.ids import utc_now
from domain.jobs import JobKind, JobStatus, new_job, start
from entrypoints.container import Container, build_container, close_services, open_services
from entrypoints.services import Services
from entrypoints.settings import load_settings
from tests.contracts.job_runner_contract import (
    JobRunnerContract,
    result_of,
    submit_batch,
    submit_extract,
    wait_for,
)
from tests.integration.test_runner_local import runner_env
from tests.support.process import cli
from tests.support.worker_process import WorkerProcess

pytestmark = pytest.mark.services


@dataclass
class CeleryHarness:
    services: Services
    container: Container
    env: dict[str, str]
    workdir: Path
    data_root: Path
    artifacts_dir: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    async def start(self, **env: str) -> WorkerProcess:
        worker = WorkerProcess({**self.env, **env}, self.workdir)
        self.workers.append(worker)
        await asyncio.to_thread(worker.start)
        return worker


@pytest.fixture
def queue_name(redis_url: str) -> Iterator[str]:
    name = f"test-jobs-{uuid.uuid4().hex[:12]}"
    yield name
    redis.Redis.from_url(redis_url).delete(name)


@pytest.fixture
async def runner(tmp_path: Path, redis_url: str, queue_name: str) -> AsyncIterator[CeleryHarness]:
    env = runner_env(tmp_path, JOBS_BACKEND="celery", CELERY_BROKER_URL=redis_url, CELERY_QUEUE=queue_name,
                     S3_BUCKET="", DATABASE_URL="")
    (tmp_path / "data").mkdir()
    container = build_container(load_settings(env, dotenv_path=None))
    # The producer on this test's queue (whatever CELERY_QUEUE wiring the container has).
    container.job_queue.override(providers.Singleton(CeleryJobQueue, broker_url=redis_url, queue=queue_name))
    services = await open_services(container)
    harness = CeleryHarness(services, container, env, tmp_path, tmp_path / "data", tmp_path / "artifacts")
    try:
        yield harness
    finally:
        codes = [await asyncio.to_thread(w.stop) for w in harness.workers]
        await close_services(container)
    assert all(code == 0 for code in codes), [w.logs()[-3000:] for w in harness.workers]


class TestCeleryJobRunner(JobRunnerContract):
    pass


async def test_the_worker_logs_json_lines_and_stops_gracefully(runner: CeleryHarness) -> None:
    job = await submit_extract(runner.services)
    worker = await runner.start()
    assert (await wait_for(runner.services, job.job_id, lambda j: j.is_terminal)).status is JobStatus.SUCCEEDED
    assert await asyncio.to_thread(worker.stop) == 0
    lines = worker.logs().splitlines()
    assert lines and all(line.startswith("{") for line in lines), [x for x in lines if not x.startswith("{")]
    events = [r.get("event") for r in worker.log_records()]
    for expected in ("worker_start", "worker_ready", "job_start", "inference_call_end", "job_end", "worker_stop"):
        assert expected in events, events
    assert events[-1] == "worker_stop"
    start_record = worker.events("worker_start")[0]
    assert start_record["queue"] == runner.env["CELERY_QUEUE"] and start_record["concurrency"] == 2


async def test_the_worker_resumes_stale_running_jobs_and_spares_live_ones(runner: CeleryHarness) -> None:
    store, now = runner.services.job_store, utc_now()
    dead = await submit_extract(runner.services)  # its message is in the queue: the worker skips it
    await store.update(dead.job_id, lambda j: start(j, at=now - timedelta(minutes=5)))
    await store.create(new_job(job_id="stale-alive", kind=JobKind.EXTRACT, owner_key_id="k",
                               owner_role="admin", request={}, at=now, total=1))
    await store.update("stale-alive", lambda j: start(j, at=now))
    worker = await runner.start(JOBS_STALE_AFTER_S="60")
    resumed = await wait_for(runner.services, dead.job_id, lambda j: j.is_terminal, timeout=10)
    assert resumed.status is JobStatus.SUCCEEDED and resumed.attempts == 2
    assert [r["job_id"] for r in worker.events("job_stale")] == [dead.job_id]
    alive = await runner.services.job_store.get("stale-alive")
    assert alive is not None and alive.status is JobStatus.RUNNING


async def test_a_late_redelivery_of_a_finished_job_is_skipped(runner: CeleryHarness) -> None:
    job = await submit_extract(runner.services)
    worker = await runner.start()
    done = await wait_for(runner.services, job.job_id, lambda j: j.is_terminal)
    await runner.services.job_queue.enqueue(job.job_id)
    for _ in range(100):
        if worker.events("job_skipped"):
            break
        await asyncio.sleep(0.05)
    assert [r["job_id"] for r in worker.events("job_skipped")] == [job.job_id]
    assert await runner.services.job_store.get(job.job_id) == done


def test_the_worker_refuses_to_run_without_the_celery_backend(tmp_path: Path) -> None:
    result = cli(runner_env(tmp_path, JOBS_BACKEND="local"), "worker", timeout=30)
    assert result.returncode == 2 and "JOBS_BACKEND=celery" in result.stderr


async def test_sigterm_hands_the_running_batch_back_and_another_worker_finishes_it(runner: CeleryHarness) -> None:
    job = await submit_batch(runner, count=12, slow_ms=300, concurrency=2)
    first = await runner.start()
    await wait_for(runner.services, job.job_id, lambda j: (j.progress or {}).get("done", 0) >= 2)
    stopping = time.monotonic()
    assert await asyncio.to_thread(first.stop) == 0  # warm shutdown: the batch stops at its next item
    assert time.monotonic() - stopping < 5
    handed_back = await runner.services.job_store.get(job.job_id)
    assert handed_back is not None and handed_back.status is JobStatus.QUEUED
    done_before = len(list(runner.artifacts_dir.glob("extracts/*/*.json")))
    assert 2 <= done_before < 12
    events = [r.get("event") for r in first.log_records()]
    assert "job_requeued" in events and events.index("job_requeued") < events.index("worker_stop")

    second = await runner.start()
    done = await wait_for(runner.services, job.job_id, lambda j: j.is_terminal)
    assert done.status is JobStatus.SUCCEEDED and done.attempts == 1  # handed back: not a used-up attempt
    result = await result_of(runner.services, done)
    assert result["item_count"] == 12 and result["ok_count"] == 12
    assert len(list(runner.artifacts_dir.glob("extracts/*/*.json"))) == 12  # the first worker's items reused
    assert len(second.events("extract_reused")) == done_before
