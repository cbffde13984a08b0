"""Job runner contract: what any runner (in-process asyncio, Celery worker) guarantees, seen
through the use cases (SPEC §7). Written once; subclassed in tests/integration.

A subclass provides a ``runner`` fixture: a :class:`RunnerHarness` whose ``services`` are built
by the container against a real job store, with the runner NOT yet running until
``await runner.start()`` — so a test can submit or cancel jobs before anything executes.
Batch items are slowed by file name (the mock backend's ``mock_slow_<ms>`` trigger).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import msgspec

from application.extract_types import ExtractCommand
from domain.auth import Principal, Role, scopes_for
from domain.jobs import Job, JobKind, JobStatus
from entrypoints.services import Services
from tests.support.images import image_bytes

TASK_ID = "receipt_fields_v1"
OWNER = Principal(key_id="contract-admin", role="admin", scopes=scopes_for(Role.ADMIN))
WAIT_S = 20.0


class RunnerHarness(Protocol):
    services: Services
    data_root: Path
    artifacts_dir: Path

    async def start(self) -> None: ...


async def wait_for(services: Services, job_id: str, predicate: Callable[[Job], bool],
                   timeout: float = WAIT_S) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = await services.job_store.get(job_id)
        assert job is not None
        if predicate(job):
            return job
        assert time.monotonic() < deadline, f"job {job_id} stuck: {job.status} {job.progress}"
        await asyncio.sleep(0.02)


def is_final(job: Job) -> bool:
    return job.is_terminal


async def submit_extract(services: Services, request_id: str | None = None) -> Job:
    request = await services.extractor.prepare_async(ExtractCommand(
        task_id=TASK_ID, request_id=request_id or f"contract-{uuid.uuid4().hex[:12]}",
        image_bytes=image_bytes("JPEG", (96, 64))), OWNER)
    return await services.jobs.submit(kind=JobKind.EXTRACT, request=request, principal=OWNER, total=1)


async def submit_batch(harness: RunnerHarness, *, count: int, slow_ms: int, concurrency: int) -> Job:
    folder = f"batch-{uuid.uuid4().hex[:8]}"
    root = harness.data_root / folder
    root.mkdir(parents=True)
    for i in range(count):
        (root / f"mock_slow_{slow_ms}_{i:03d}.jpg").write_bytes(image_bytes("JPEG", (48, 32)))
    plan = await harness.services.planner.from_dir(task_id=TASK_ID, images_dir=folder, glob="*.jpg",
                                                   concurrency=concurrency, run_id=None, limit=None)
    return await harness.services.jobs.submit(kind=plan.kind, request={"plan": msgspec.to_builtins(plan)},
                                              principal=OWNER, total=len(plan.items))


async def result_of(services: Services, job: Job) -> dict[str, Any]:
    return await services.jobs.result(job.job_id, OWNER)


class JobRunnerContract:
    async def test_extract_job_succeeds_with_a_result(self, runner: RunnerHarness) -> None:
        job = await submit_extract(runner.services)
        await runner.start()
        done = await wait_for(runner.services, job.job_id, is_final)
        assert done.status is JobStatus.SUCCEEDED and done.attempts == 1 and done.error is None
        assert done.result_meta and done.result_meta["ok"] is True
        body = await result_of(runner.services, done)
        assert body["request_id"] == job.request["request_id"] and body["parsed"]
        assert (runner.artifacts_dir / done.result_meta["artifact_rel"]).is_file()
        assert (runner.artifacts_dir / done.result_rel).is_file()

    async def test_batch_job_reports_progress_and_succeeds(self, runner: RunnerHarness) -> None:
        job = await submit_batch(runner, count=10, slow_ms=200, concurrency=2)
        assert job.progress == {"stage": "queued", "total": 10, "done": 0, "ok": 0, "err": 0, "current": None}
        await runner.start()
        seen: list[dict[str, Any]] = []

        def record(j: Job) -> bool:
            if j.status is JobStatus.RUNNING and j.progress:
                seen.append(j.progress)
            return j.is_terminal

        done = await wait_for(runner.services, job.job_id, record)
        assert done.status is JobStatus.SUCCEEDED, done.error
        assert any(p["stage"] == "extracting" and 0 < p["done"] < 10 for p in seen), seen
        assert done.progress and done.progress["stage"] == "succeeded"
        assert (done.progress["done"], done.progress["ok"], done.progress["err"]) == (10, 10, 0)
        body = await result_of(runner.services, done)
        assert body["item_count"] == 10 and body["ok_count"] == 10
        assert done.result_meta == {k: body[k] for k in ("run_id", "artifact_rel", "item_count", "ok_count",
                                                          "error_count")}

    async def test_a_job_canceled_while_queued_never_runs(self, runner: RunnerHarness) -> None:
        canceled = await submit_extract(runner.services)
        assert (await runner.services.jobs.cancel(canceled.job_id, OWNER)).status is JobStatus.CANCELED
        sentinel = await submit_extract(runner.services)
        await runner.start()
        assert (await wait_for(runner.services, sentinel.job_id, is_final)).status is JobStatus.SUCCEEDED
        await asyncio.sleep(0.3)  # both messages were handed out long ago; nothing may have moved
        job = await runner.services.job_store.get(canceled.job_id)
        assert job is not None and job.status is JobStatus.CANCELED
        assert job.attempts == 0 and job.started_at is None and job.result_rel is None
        assert not list(runner.artifacts_dir.rglob(f"*{canceled.request['request_id']}*"))

    async def test_canceling_a_running_batch_keeps_the_finished_items(self, runner: RunnerHarness) -> None:
        job = await submit_batch(runner, count=12, slow_ms=250, concurrency=1)
        await runner.start()
        await wait_for(runner.services, job.job_id,
                       lambda j: j.is_terminal or bool(j.progress and j.progress["done"] >= 1))
        asked = await runner.services.jobs.cancel(job.job_id, OWNER)
        assert asked.status is JobStatus.RUNNING and asked.cancel_requested
        done = await wait_for(runner.services, job.job_id, is_final, timeout=5)
        assert done.status is JobStatus.CANCELED and done.progress and done.progress["stage"] == "canceled"
        body = await result_of(runner.services, done)
        assert 1 <= body["item_count"] < 12 and body["ok_count"] == body["item_count"]
        for item in body["items"]:
            assert (runner.artifacts_dir / item["artifact_rel"]).is_file()
        assert (runner.artifacts_dir / body["artifact_rel"]).is_file()

    async def test_duplicate_deliveries_run_a_job_once(self, runner: RunnerHarness) -> None:
        job = await submit_extract(runner.services)
        for _ in range(2):  # as a broker redelivering, or a recovery re-enqueueing
            await runner.services.job_queue.enqueue(job.job_id)
        await runner.start()
        done = await wait_for(runner.services, job.job_id, is_final)
        await asyncio.sleep(0.3)
        again = await runner.services.job_store.get(job.job_id)
        assert done.status is JobStatus.SUCCEEDED and again == done and again.attempts == 1

    async def test_concurrent_executions_of_one_job_start_it_once(self, runner: RunnerHarness) -> None:
        job = await submit_extract(runner.services)
        executor = runner.services.executor
        await asyncio.gather(*(executor.execute(job.job_id) for _ in range(4)))
        done = await runner.services.job_store.get(job.job_id)
        assert done is not None and done.status is JobStatus.SUCCEEDED and done.attempts == 1
