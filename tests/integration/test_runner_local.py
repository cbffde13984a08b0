"""The in-process runner (JOBS_BACKEND=local) against the real SQLite job store, through the
container; plus the heartbeat, the sweep and the resume of interrupted jobs (ADR 0052)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from application.job_execution import JobExecutor
from application.job_recovery import enqueue_lost_jobs, recover_jobs, sweep_stale_jobs
from domain.ids import utc_now
from domain.jobs import JobKind, JobStatus, new_job, report_progress, start
from entrypoints.container import (
    Container,
    build_container,
    close_services,
    open_services,
    start_job_runner,
    stop_job_runner,
)
from entrypoints.services import Services, resolve
from entrypoints.settings import load_settings
from tests.contracts.job_runner_contract import JobRunnerContract, submit_extract, wait_for


def runner_env(tmp: Path, **extra: str) -> dict[str, str]:
    return {
        "ARTIFACTS_DIR": str(tmp / "artifacts"), "DATA_ROOT": str(tmp / "data"),
        "JOBS_DB_PATH": str(tmp / "db" / "jobs.db"), "AUTH_DB_PATH": str(tmp / "db" / "auth.db"),
        "PEPPER_FILE": str(tmp / "secrets" / "pepper"), "INFERENCE_BACKEND": "mock", "AUTH_ENABLED": "0",
        "JOBS_MAX_CONCURRENCY": "2", "LOG_FORMAT": "json", **extra,
    }


@dataclass
class LocalHarness:
    services: Services
    container: Container
    data_root: Path
    artifacts_dir: Path

    async def start(self) -> None:
        await start_job_runner(self.services)


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[LocalHarness]:
    settings = load_settings(runner_env(tmp_path, JOBS_BACKEND="local"), dotenv_path=None)
    (tmp_path / "data").mkdir()
    container = build_container(settings)
    services = await open_services(container)
    try:
        yield LocalHarness(services, container, tmp_path / "data", tmp_path / "artifacts")
    finally:
        await stop_job_runner(services)
        await close_services(container)


class TestLocalJobRunner(JobRunnerContract):
    pass


async def test_a_restart_resumes_every_running_job_and_runs_the_queued(runner: LocalHarness) -> None:
    """The local runner owns all jobs of its database: on start nothing can still be running,
    so what is marked running was cut short and resumes."""
    services = runner.services
    cut_short = await submit_extract(services)
    await services.job_store.update(cut_short.job_id, lambda j: start(j, at=utc_now()))  # fresh, yet dead
    waiting = await submit_extract(services)
    await runner.start()
    resumed = await wait_for(services, cut_short.job_id, lambda j: j.is_terminal)
    assert resumed.status is JobStatus.SUCCEEDED and resumed.attempts == 2 and resumed.error is None
    assert (await wait_for(services, waiting.job_id, lambda j: j.is_terminal)).status is JobStatus.SUCCEEDED


async def test_the_heartbeat_moves_updated_at_while_a_job_runs(runner: LocalHarness) -> None:
    services = runner.services
    executor = JobExecutor(store=services.job_store, extractor=services.extractor, batches=services.batch_runner,
                           blobs=await resolve(runner.container.blob_store()), heartbeat_s=0.2)
    job = await submit_extract(services, request_id="mock_slow_2300_heartbeat")
    running = asyncio.create_task(executor.execute(job.job_id))
    first = await wait_for(services, job.job_id, lambda j: j.status is JobStatus.RUNNING)
    beats = {first.updated_at}
    while not running.done():
        current = await services.job_store.get(job.job_id)
        assert current is not None
        if current.status is JobStatus.RUNNING:
            beats.add(current.updated_at)
        await asyncio.sleep(0.03)
    await running
    done = await services.job_store.get(job.job_id)
    assert done is not None and done.status is JobStatus.SUCCEEDED
    # Timestamps have second resolution: 2.3 s of beats show at least two more seconds.
    assert len(beats) >= 3 and max(beats) - first.updated_at >= timedelta(seconds=2), beats
    assert done.progress and done.progress["stage"] == "succeeded"


async def test_the_sweep_requeues_only_running_jobs_without_a_recent_heartbeat(runner: LocalHarness) -> None:
    store, now = runner.services.job_store, utc_now()
    ids = {}
    for name, age_s, running in (("dead", 600, True), ("alive", 5, True), ("waiting", 600, False)):
        created = now - timedelta(seconds=age_s)
        job = new_job(job_id=f"sweep-{name}", kind=JobKind.EXTRACT, owner_key_id="k", owner_role="admin",
                      request={}, at=created, total=1)
        await store.create(job)
        if running:
            await store.update(job.job_id, lambda j, at=created: start(j, at=at))
        ids[name] = job.job_id
    queue = Recorder()
    swept = await sweep_stale_jobs(store, stale_after=timedelta(seconds=60), queue=queue)
    assert swept == [ids["dead"]] and queue.ids == [ids["dead"]]
    dead, alive, waiting = [await store.get(ids[n]) for n in ("dead", "alive", "waiting")]
    assert dead and dead.status is JobStatus.QUEUED and dead.attempts == 1 and dead.error is None
    assert alive and alive.status is JobStatus.RUNNING and waiting and waiting.status is JobStatus.QUEUED
    assert await sweep_stale_jobs(store, stale_after=timedelta(seconds=60)) == []


async def test_the_sweep_spares_jobs_this_process_is_running(runner: LocalHarness) -> None:
    store, old = runner.services.job_store, utc_now() - timedelta(minutes=10)
    await store.create(new_job(job_id="busy-here", kind=JobKind.EXTRACT, owner_key_id="k", owner_role="admin",
                               request={}, at=old, total=1))
    await store.update("busy-here", lambda j: start(j, at=old))
    assert await sweep_stale_jobs(store, stale_after=timedelta(seconds=60), busy={"busy-here"}) == []
    job = await store.get("busy-here")
    assert job is not None and job.status is JobStatus.RUNNING


async def test_queued_jobs_in_no_queue_are_handed_over_again(runner: LocalHarness) -> None:
    store, queue = runner.services.job_store, Recorder()
    for name in ("lost", "waiting"):
        await store.create(new_job(job_id=f"q-{name}", kind=JobKind.EXTRACT, owner_key_id="k", owner_role="admin",
                                   request={}, at=utc_now(), total=1))
    assert await enqueue_lost_jobs(store, queue, waiting=lambda j: j == "q-waiting") == ["q-lost"]
    assert queue.ids == ["q-lost"]
    # With an age limit (a broker's message may still be in flight), fresh jobs are left alone.
    assert await enqueue_lost_jobs(store, queue, waiting=lambda j: False, older_than=timedelta(minutes=1)) == []


class Recorder:
    def __init__(self) -> None:
        self.ids: list[str] = []

    async def enqueue(self, job_id: str) -> None:
        self.ids.append(job_id)

    async def ping(self) -> None:
        return None


async def test_a_heartbeat_landing_during_the_sweep_keeps_the_job(runner: LocalHarness) -> None:
    store, old = runner.services.job_store, utc_now() - timedelta(minutes=10)
    await store.create(new_job(job_id="sweep-race", kind=JobKind.EXTRACT, owner_key_id="k", owner_role="admin",
                               request={}, at=old, total=1))
    await store.update("sweep-race", lambda j: start(j, at=old))

    class BeatFirst:  # the job's worker beats between the sweep's read and its update
        def __getattr__(self, name: str) -> object:
            return getattr(store, name)

        async def update(self, job_id: str, change):  # noqa: ANN001, ANN202
            await store.update(job_id, lambda j: report_progress(j, j.progress or {}, at=utc_now()))
            return await store.update(job_id, change)

    assert await sweep_stale_jobs(BeatFirst(), stale_after=timedelta(seconds=60)) == []  # type: ignore[arg-type]
    job = await store.get("sweep-race")
    assert job is not None and job.status is JobStatus.RUNNING


async def test_recover_jobs_keeps_its_contract(runner: LocalHarness) -> None:
    counts = await recover_jobs(runner.services.job_store, runner.services.job_queue)
    assert counts == {"resumed": 0, "queued": 0}
