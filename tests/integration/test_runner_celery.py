"""The Celery runner: the test process submits through ``CeleryJobQueue`` (Redis broker, a
queue of its own per test) and a REAL ``ocr-orchestrator worker`` process executes, both on
one SQLite job database (JOBS_DB_PATH) and one artifacts directory."""

from __future__ import annotations

import asyncio
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


async def test_the_worker_fails_stale_running_jobs_and_spares_live_ones(runner: CeleryHarness) -> None:
    store, now = runner.services.job_store, utc_now()
    for name, beat in (("dead", now - timedelta(minutes=5)), ("alive", now)):
        await store.create(new_job(job_id=f"stale-{name}", kind=JobKind.EXTRACT, owner_key_id="k",
                                   owner_role="admin", request={}, at=beat, total=1))
        await store.update(f"stale-{name}", lambda j, at=beat: start(j, at=at))
    await runner.start(JOBS_STALE_AFTER_S="60")
    dead = await wait_for(runner.services, "stale-dead", lambda j: j.is_terminal, timeout=5)
    assert dead.status is JobStatus.FAILED and dead.error and dead.error["code"] == "stale_after_restart"
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


async def test_sigterm_lets_the_running_batch_finish_before_the_worker_exits(runner: CeleryHarness) -> None:
    job = await submit_batch(runner, count=6, slow_ms=200, concurrency=2)
    worker = await runner.start()
    await wait_for(runner.services, job.job_id, lambda j: j.status is JobStatus.RUNNING)
    assert await asyncio.to_thread(worker.stop) == 0  # warm shutdown: waits for the job
    done = await runner.services.job_store.get(job.job_id)
    assert done is not None and done.status is JobStatus.SUCCEEDED and done.progress["done"] == 6
    events = [r.get("event") for r in worker.log_records()]
    assert events.index("job_end") < events.index("worker_stop")
