"""Upload batches that start while their body still arrives (ADR 0051), through the container
with the real SQLite job store and the local runner: the early job is fed item by item, settled
at the end of the body, or stopped when the upload is refused; a restart in mid-upload fails it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from application.batch_feed import RECEIVING
from application.batch_types import BatchItemInput, BatchPlan
from application.job_recovery import recover_jobs
from application.live_uploads import LiveUpload, LiveUploads
from domain.auth import Principal, Role, scopes_for
from domain.ids import utc_now
from domain.jobs import JobKind, JobStatus, new_job
from entrypoints.container import (
    build_container,
    close_services,
    open_services,
    start_job_runner,
    stop_job_runner,
)
from entrypoints.services import Services
from entrypoints.settings import load_settings
from tests.contracts.job_runner_contract import submit_extract, wait_for
from tests.integration.test_runner_local import runner_env
from tests.support.images import image_bytes

OWNER = Principal(key_id="uploader", role=Role.CLIENT.value, scopes=scopes_for(Role.CLIENT))


@pytest.fixture
async def services(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Services]:
    extra = getattr(request, "param", {})
    settings = load_settings(runner_env(tmp_path, JOBS_BACKEND="local", **extra), dotenv_path=None)
    (tmp_path / "data").mkdir()
    container = build_container(settings)
    services = await open_services(container)
    await start_job_runner(services)
    try:
        yield services
    finally:
        await stop_job_runner(services)
        await close_services(container)


def live_uploads(services: Services) -> LiveUploads:
    assert services.live_uploads is not None
    return services.live_uploads


async def head(services: Services, concurrency: int = 2, run_id: str | None = None) -> BatchPlan:
    return await services.planner.upload_head(task_id="receipt_fields_v1", concurrency=concurrency, run_id=run_id)


async def store_inputs(services: Services, count: int) -> list[str]:
    return [await services.inputs.put_bytes(OWNER.key_id, image_bytes(size=(20 + i, 21)), ".png")
            for i in range(count)]


def feed_all(live: LiveUpload, refs: list[str], order: list[int] | None = None) -> None:
    for index in order if order is not None else range(len(refs)):
        live.feed.put(index, BatchItemInput(file=f"{index:02d}.png", input_ref=refs[index]))


def full_plan(live: LiveUpload, refs: list[str]) -> BatchPlan:
    items = [BatchItemInput(file=f"{i:02d}.png", input_ref=ref) for i, ref in enumerate(refs)]
    return msgspec.structs.replace(live.plan, items=items)


async def result_of(services: Services, job_id: str) -> dict:
    return await services.jobs.result(job_id, OWNER)


async def test_items_run_before_the_body_ends_and_the_job_is_settled_with_the_whole_plan(services: Services) -> None:
    refs = await store_inputs(services, 6)
    live = await live_uploads(services).open(await head(services, run_id="live-run-1"), OWNER, idempotency_key="k1")
    assert live is not None
    feed_all(live, refs[:3], order=[2, 0, 1])  # stored out of order, run in input order
    running = await wait_for(services, live.job_id, lambda j: (j.progress or {}).get("done", 0) >= 1)
    assert running.status is JobStatus.RUNNING and running.request[RECEIVING] is True
    assert running.progress and 1 <= running.progress["total"] <= 3  # the items so far, while receiving
    feed_all(live, refs, order=[5, 3, 4])
    settled = await live_uploads(services).settle(live, full_plan(live, refs), "digest-1")
    assert settled.request_sha256 == "digest-1" and RECEIVING not in settled.request
    assert settled.progress and settled.progress["total"] == 6
    done = await wait_for(services, live.job_id, lambda j: j.is_terminal)
    assert done.status is JobStatus.SUCCEEDED and done.error is None
    assert done.progress == {"stage": "succeeded", "total": 6, "done": 6, "ok": 6, "err": 0, "current": None}
    result = await result_of(services, live.job_id)
    assert result["run_id"] == "live-run-1" and [i["file"] for i in result["items"]] == [
        f"{i:02d}.png" for i in range(6)]
    assert [i["input_ref"] for i in result["items"]] == refs
    assert len(done.request["plan"]["items"]) == 6  # what a restart or a rerun would see
    assert await services.job_store.find_by_idempotency_key(OWNER.key_id, "k1") is not None
    assert services.live_uploads is not None and await live_uploads(services).open(
        await head(services), OWNER, idempotency_key="k1") is None  # a used key takes the ordinary path


async def test_a_refused_upload_stops_its_job_and_removes_only_inputs_no_item_started(services: Services,
                                                                                      tmp_path: Path) -> None:
    refs = await store_inputs(services, 5)
    live = await live_uploads(services).open(await head(services, concurrency=2), OWNER, idempotency_key=None)
    assert live is not None
    feed_all(live, refs[:2])
    await wait_for(services, live.job_id, lambda j: (j.progress or {}).get("done", 0) >= 1)
    live.feed.put(3, BatchItemInput(file="03.png", input_ref=refs[3]))  # stored, but 2 never arrived
    failure = {"code": "payload_too_large", "message": "too many files", "retryable": False}
    job = await live_uploads(services).abandon(live, failure, discard=refs)
    assert job is not None
    done = await wait_for(services, live.job_id, lambda j: j.is_terminal)
    assert done.status is JobStatus.CANCELED and done.error == failure
    result = await result_of(services, live.job_id)
    assert [i["input_ref"] for i in result["items"]] == refs[:2]
    left = {str(p.relative_to(tmp_path / "artifacts")) for p in (tmp_path / "artifacts" / "inputs").rglob("*.png")}
    assert left == set(refs[:2])  # the started items' inputs stay; the rest is gone


@pytest.mark.parametrize("services", [{"JOBS_MAX_CONCURRENCY": "1"}], indirect=True)
async def test_a_refused_upload_whose_job_never_started_runs_nothing(services: Services, tmp_path: Path) -> None:
    blocker = await submit_extract(services, request_id="mock_slow_1500_live")
    await wait_for(services, blocker.job_id, lambda j: j.status is JobStatus.RUNNING)
    refs = await store_inputs(services, 2)
    live = await live_uploads(services).open(await head(services), OWNER, idempotency_key=None)
    assert live is not None
    feed_all(live, refs)
    await live_uploads(services).abandon(live, {"code": "upload_incomplete", "message": "gone"}, discard=refs)
    job = await services.job_store.get(live.job_id)
    assert job is not None and job.status is JobStatus.CANCELED and job.started_at is None
    assert not list((tmp_path / "artifacts" / "inputs").rglob("*.png"))
    await wait_for(services, blocker.job_id, lambda j: j.is_terminal)
    await asyncio.sleep(0.2)
    job = await services.job_store.get(live.job_id)
    assert job is not None and job.started_at is None  # it never ran after the blocker either


async def test_a_job_cut_off_in_mid_upload_fails_as_stale_after_a_restart(services: Services) -> None:
    """The upload's process died: the job is queued (or running) with a partial plan and no
    feed anywhere. It must not run that partial plan."""
    plan = await head(services)
    job = new_job(job_id="cut-off-upload", kind=JobKind.BATCH_UPLOAD, owner_key_id=OWNER.key_id,
                  owner_role=OWNER.role, request={"plan": msgspec.to_builtins(plan), RECEIVING: True}, at=utc_now())
    await services.job_store.create(job)
    await recover_jobs(services.job_store, services.job_queue)
    done = await wait_for(services, job.job_id, lambda j: j.is_terminal)
    assert done.status is JobStatus.FAILED and done.error and done.error["code"] == "stale_after_restart"
    assert done.result_rel is None and done.progress and done.progress["done"] == 0
