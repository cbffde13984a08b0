"""Jobs keep their work under database faults and interruptions (ADR 0052), through the local
runner, the real SQLite job store and the mock model; faults are injected between a write's
commit and its answer, before it, and for longer than the executor's patience."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from dependency_injector import providers

from adapters.store.jobs import SqlJobStore
from application.ports.jobs import JobChange
from domain.errors import StorageUnavailableError
from domain.jobs import Job, JobStatus, requeue, start
from entrypoints.container import (
    build_container,
    close_services,
    open_services,
    start_job_runner,
    stop_job_runner,
)
from entrypoints.services import Services
from entrypoints.settings import load_settings
from tests.contracts.job_runner_contract import (
    OWNER,
    result_of,
    submit_batch,
    submit_extract,
    wait_for,
)
from tests.integration.test_runner_local import runner_env
from tests.support.images import image_bytes

Transition = Callable[[Job, Job], bool]


@dataclass
class Fault:
    matches: Transition
    after_commit: bool  # True: the write lands, its answer is lost
    times: int


class FlakyJobStore:
    """The SQL job store, with scripted failures of the updates whose transition matches."""

    def __init__(self, inner: SqlJobStore) -> None:
        self._inner = inner
        self.faults: list[Fault] = []
        self.failed = 0

    def fail(self, matches: Transition, *, after_commit: bool = False, times: int = 1) -> None:
        self.faults.append(Fault(matches, after_commit, times))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def update(self, job_id: str, change: JobChange) -> Job:
        seen: dict[str, Job] = {}

        def observed(job: Job) -> Job:
            changed = change(job)
            seen["before"], seen["after"] = job, changed
            return changed

        fault = None
        current = await self._inner.get(job_id)
        if current is not None:
            try:
                probe = change(current)
            except Exception:  # the real update raises the same; let it
                probe = None
            fault = next((f for f in self.faults if f.times > 0 and probe is not None and f.matches(current, probe)),
                         None)
        if fault is not None and not fault.after_commit:
            fault.times -= 1
            self.failed += 1
            raise StorageUnavailableError("update job: the database is unavailable", retryable=True)
        written = await self._inner.update(job_id, observed)
        if fault is not None:
            fault.times -= 1
            self.failed += 1
            raise StorageUnavailableError("update job: the connection dropped after COMMIT", retryable=True)
        return written


def starting(before: Job, after: Job) -> bool:
    return before.status is JobStatus.QUEUED and after.status is JobStatus.RUNNING


def finishing(before: Job, after: Job) -> bool:
    return before.status is JobStatus.RUNNING and after.is_terminal


@dataclass
class Harness:
    services: Services
    store: FlakyJobStore
    data_root: Path
    artifacts_dir: Path
    started: list[bool] = field(default_factory=list)

    async def start(self) -> None:
        await start_job_runner(self.services)

    def extracts(self) -> list[Path]:
        return sorted(self.artifacts_dir.glob("extracts/*/*.json"))


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    (tmp_path / "data").mkdir()
    settings = load_settings(runner_env(tmp_path, JOBS_BACKEND="local", JOBS_HEARTBEAT_S="0.2",
                                        JOBS_STALE_AFTER_S="1", JOBS_MAX_ATTEMPTS="2"), dotenv_path=None)
    container = build_container(settings)
    flaky = providers.Singleton(FlakyJobStore, inner=providers.Singleton(SqlJobStore, engine=container.jobs_engine))
    container.job_store.override(flaky)
    services = await open_services(container)
    services.executor._patience_s = 1.0  # noqa: SLF001 - a short patience keeps the give-up case fast
    try:
        yield Harness(services, services.job_store, tmp_path / "data", tmp_path / "artifacts")
    finally:
        await stop_job_runner(services)
        await close_services(container)


async def test_a_start_whose_answer_was_lost_runs_the_job_once(harness: Harness) -> None:
    harness.store.fail(starting, after_commit=True)
    job = await submit_extract(harness.services)
    await harness.start()
    done = await wait_for(harness.services, job.job_id, lambda j: j.is_terminal)
    assert done.status is JobStatus.SUCCEEDED and done.attempts == 1 and harness.store.failed == 1
    assert len(harness.extracts()) == 1


async def test_a_start_that_failed_is_retried(harness: Harness) -> None:
    harness.store.fail(starting, times=3)
    job = await submit_extract(harness.services)
    await harness.start()
    done = await wait_for(harness.services, job.job_id, lambda j: j.is_terminal)
    assert done.status is JobStatus.SUCCEEDED and done.attempts == 1 and harness.store.failed == 3


async def test_a_finish_that_failed_for_a_while_still_lands(harness: Harness) -> None:
    harness.store.fail(finishing, times=3)
    job = await submit_batch(harness, count=3, slow_ms=10, concurrency=2)
    await harness.start()
    done = await wait_for(harness.services, job.job_id, lambda j: j.is_terminal)
    assert done.status is JobStatus.SUCCEEDED and done.result_rel and harness.store.failed == 3
    assert (await result_of(harness.services, done))["item_count"] == 3


async def test_a_finish_lost_beyond_patience_is_taken_back_and_the_rerun_reuses_every_item(harness: Harness) -> None:
    harness.store.fail(finishing, times=50)  # the executor gives up (1 s patience); the job stays running
    job = await submit_batch(harness, count=4, slow_ms=10, concurrency=2)
    await harness.start()
    executor = harness.services.executor
    await wait_for(harness.services, job.job_id,
                   lambda j: harness.store.failed >= 3 and j.job_id not in executor.executing)
    still = await harness.services.job_store.get(job.job_id)
    assert still is not None and still.status is JobStatus.RUNNING  # given up on: the sweep's turn
    harness.store.faults.clear()
    done = await wait_for(harness.services, job.job_id, lambda j: j.is_terminal, timeout=15)
    assert done.status is JobStatus.SUCCEEDED and done.attempts == 2  # the sweep requeued it
    body = await result_of(harness.services, done)
    assert body["item_count"] == 4 and body["ok_count"] == 4
    assert len(harness.extracts()) == 4  # resumed: nothing ran twice


async def test_an_interrupted_batch_goes_back_to_the_queue_and_resumes(harness: Harness) -> None:
    job = await submit_batch(harness, count=24, slow_ms=150, concurrency=2)
    await harness.start()
    await wait_for(harness.services, job.job_id, lambda j: (j.progress or {}).get("done", 0) >= 2)
    await stop_job_runner(harness.services)  # SIGTERM: drain and requeue
    back = await harness.services.job_store.get(job.job_id)
    assert back is not None and back.status is JobStatus.QUEUED
    assert back.attempts == 0  # handed back in good order: that start does not count
    done_at_stop = len(harness.extracts())
    assert 2 <= done_at_stop < 24
    harness.services.executor._stopping = False  # noqa: SLF001 - a new process would start fresh
    await harness.start()
    done = await wait_for(harness.services, job.job_id, lambda j: j.is_terminal)
    assert done.status is JobStatus.SUCCEEDED and done.attempts == 1
    body = await result_of(harness.services, done)
    assert body["ok_count"] == 24 and len(harness.extracts()) == 24
    assert len({i["artifact_rel"] for i in body["items"]}) == 24


async def submit_upload_batch(harness: Harness, count: int) -> Job:
    """An upload batch: every input stored up front (so a rerun can redo any item)."""
    uploads = []
    for i in range(count):
        ref = await harness.services.inputs.put_bytes(OWNER.key_id, image_bytes(size=(40 + i, 30)), ".png")
        uploads.append((f"mock_slow_150_{i:03d}.png", ref))
    plan = await harness.services.planner.from_uploads(task_id="receipt_fields_v1", uploads=uploads,
                                                       concurrency=2, run_id=None, limit=None)
    return await harness.services.jobs.submit(kind=plan.kind, request={"plan": msgspec.to_builtins(plan)},
                                              principal=OWNER, total=count)


async def test_the_start_beyond_the_last_attempt_salvages_what_finished(harness: Harness) -> None:
    job = await submit_upload_batch(harness, 16)
    await harness.start()
    await wait_for(harness.services, job.job_id, lambda j: (j.progress or {}).get("done", 0) >= 2)
    await stop_job_runner(harness.services)
    finished = len(harness.extracts())
    # As if two attempts had died in a crash (JOBS_MAX_ATTEMPTS=2): started and never finished.
    store = harness.services.job_store
    for _ in range(2):
        await store.update(job.job_id, lambda j: start(j, at=j.updated_at))
        await store.update(job.job_id, lambda j: requeue(j, at=j.updated_at))
    harness.services.executor._stopping = False  # noqa: SLF001
    await harness.start()  # recovery requeues it; the third start salvages
    done = await wait_for(harness.services, job.job_id, lambda j: j.is_terminal)
    assert done.status is JobStatus.FAILED and done.error and done.error["code"] == "stale_after_restart"
    assert done.attempts == 3 and done.result_rel
    body = await result_of(harness.services, done)
    assert body["item_count"] == 16 and body["ok_count"] == finished
    assert all(i["error"]["code"] == "stale_after_restart" for i in body["items"] if not i["ok"])
    assert len(harness.extracts()) == finished  # nothing new ran
    rerun = await harness.services.planner.from_rerun(
        OWNER, task_id="receipt_fields_v1", source_run_id=body["run_id"], batch_date=None, max_days=30,
        concurrency=2, new_run_id=None, limit=None, only_failed=True)
    outcome = await harness.services.batch_runner.run(rerun, OWNER)
    assert outcome.response["ok_count"] == 16 and len(harness.extracts()) == 16


async def test_a_cancel_acknowledged_while_running_never_ends_succeeded(harness: Harness) -> None:
    jobs = [await submit_extract(harness.services, request_id=f"mock_slow_{40 + i}_race{i}") for i in range(8)]
    await harness.start()
    acknowledged = []
    for job in jobs:
        current = await wait_for(harness.services, job.job_id, lambda j: j.status is not JobStatus.QUEUED)
        if current.status is JobStatus.RUNNING:
            try:
                asked = await harness.services.jobs.cancel(job.job_id, OWNER)
            except Exception:  # noqa: BLE001 - finished meanwhile: a 409, nothing acknowledged
                continue
            if asked.status is JobStatus.RUNNING and asked.cancel_requested:
                acknowledged.append(job.job_id)
        await asyncio.sleep(0)
    for job_id in acknowledged:
        done = await wait_for(harness.services, job_id, lambda j: j.is_terminal)
        assert done.status is JobStatus.CANCELED, done
    assert acknowledged
