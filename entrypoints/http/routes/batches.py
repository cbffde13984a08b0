"""Batches (SPEC §6.3): from DATA_ROOT, from uploads, or a rerun; sync and async (202 job)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from application.batch_plans import BatchPlanner
from application.batch_types import BatchPlan
from application.batches import BatchRunner
from application.inputs import InputStore
from application.jobs import JobService
from domain.auth import Principal, Scope, require_scopes
from domain.jobs import JobKind
from entrypoints.http.accepted import accepted, fingerprint, idempotency_key
from entrypoints.http.openapi import AUTH, UploadOperation, errors
from entrypoints.http.schemas import BatchExtractIn, BatchExtractOut, BatchRerunIn, JobAcceptedOut
from entrypoints.http.uploads import plan_upload, read_upload

BATCH_ERRORS = errors(400, *AUTH, 404, 409, 422)
UPLOAD_ERRORS = errors(400, *AUTH, 404, 409, 413, 415, 422)


async def with_ground_truth(request: Request, plan: BatchPlan, gt_id: str | None, principal: Principal) -> BatchPlan:
    """Evaluation at batch time: the ground truth must exist (and be the caller's) up front."""
    if gt_id is None:
        return plan
    await request.app.state.services.ground_truths.get(gt_id, principal)
    return msgspec.structs.replace(plan, gt_id=gt_id)


async def _dir_plan(request: Request, data: BatchExtractIn, planner: BatchPlanner, principal: Principal) -> BatchPlan:
    plan = await planner.from_dir(task_id=data.task_id, images_dir=data.images_dir, glob=data.glob,
                                  concurrency=data.concurrency, run_id=data.run_id, limit=data.limit)
    return await with_ground_truth(request, plan, data.gt_id, principal)


async def _rerun_plan(request: Request, data: BatchRerunIn, planner: BatchPlanner, principal: Principal) -> BatchPlan:
    plan = await planner.from_rerun(principal, task_id=data.task_id, source_run_id=data.run_id,
                                    batch_date=data.batch_date, max_days=data.max_days,
                                    concurrency=data.concurrency, new_run_id=data.new_run_id, limit=data.limit)
    return await with_ground_truth(request, plan, data.gt_id, principal)


async def _run(plan: BatchPlan, principal: Principal, runner: BatchRunner) -> BatchExtractOut:
    outcome = await runner.run(plan, principal)
    return msgspec.convert(outcome.response, BatchExtractOut)


async def _submit(request: Request, plan: BatchPlan, principal: Principal, jobs: JobService,
                  body: Any) -> Response[JobAcceptedOut]:
    job = await jobs.submit(kind=plan.kind, request={"plan": msgspec.to_builtins(plan)}, principal=principal,
                            total=len(plan.items), idempotency_key=idempotency_key(request),
                            fingerprint=fingerprint(body))
    return accepted(job)


@post("/v1/batch_extract", tags=["batches"], summary="Batch over a DATA_ROOT folder (sync)", status_code=200,
      responses=BATCH_ERRORS)
async def batch_extract(request: Request, data: JSONBody[BatchExtractIn], principal: NamedDependency[Principal],
                        planner: NamedDependency[BatchPlanner], batch_runner: NamedDependency[BatchRunner]) -> BatchExtractOut:
    require_scopes(principal, Scope.EXTRACT_RUN)
    return await _run(await _dir_plan(request, data, planner, principal), principal, batch_runner)


@post("/v1/batch_extract_async", tags=["batches"], summary="Batch over a DATA_ROOT folder (job)", status_code=202,
      responses=BATCH_ERRORS)
async def batch_extract_async(request: Request, data: JSONBody[BatchExtractIn], principal: NamedDependency[Principal],
                              planner: NamedDependency[BatchPlanner],
                              jobs: NamedDependency[JobService]) -> Response[JobAcceptedOut]:
    require_scopes(principal, Scope.EXTRACT_RUN)
    key = idempotency_key(request)
    if key and (existing := await jobs.replay(principal, key, fingerprint(data))):
        return accepted(existing)
    return await _submit(request, await _dir_plan(request, data, planner, principal), principal, jobs, data)


@post("/v1/batch_extract_rerun", tags=["batches"], summary="Rerun a stored run from its inputs (sync)",
      status_code=200, responses=BATCH_ERRORS)
async def batch_extract_rerun(request: Request, data: JSONBody[BatchRerunIn], principal: NamedDependency[Principal],
                              planner: NamedDependency[BatchPlanner],
                              batch_runner: NamedDependency[BatchRunner]) -> BatchExtractOut:
    require_scopes(principal, Scope.EXTRACT_RUN)
    return await _run(await _rerun_plan(request, data, planner, principal), principal, batch_runner)


@post("/v1/batch_extract_rerun_async", tags=["batches"], summary="Rerun a stored run from its inputs (job)",
      status_code=202, responses=BATCH_ERRORS)
async def batch_extract_rerun_async(request: Request, data: JSONBody[BatchRerunIn],
                                    principal: NamedDependency[Principal], planner: NamedDependency[BatchPlanner],
                                    jobs: NamedDependency[JobService]) -> Response[JobAcceptedOut]:
    require_scopes(principal, Scope.EXTRACT_RUN)
    key = idempotency_key(request)
    if key and (existing := await jobs.replay(principal, key, fingerprint(data))):
        return accepted(existing)
    return await _submit(request, await _rerun_plan(request, data, planner, principal), principal, jobs, data)


@post("/v1/batch_extract_upload", tags=["batches"], summary="Batch over uploaded files (sync, multipart)",
      status_code=200, responses=UPLOAD_ERRORS, request_max_body_size=None, operation_class=UploadOperation)
async def batch_extract_upload(request: Request, principal: NamedDependency[Principal],
                               planner: NamedDependency[BatchPlanner], inputs: NamedDependency[InputStore],
                               batch_runner: NamedDependency[BatchRunner]) -> BatchExtractOut:
    require_scopes(principal, Scope.EXTRACT_RUN)
    upload = await read_upload(request, principal, inputs)
    try:
        plan = await plan_upload(upload, planner, inputs, allow_ephemeral=True)
        plan = await with_ground_truth(request, plan, upload.gt_id, principal)
    finally:
        upload.form.cleanup()
    return await _run(plan, principal, batch_runner)


@post("/v1/batch_extract_upload_async", tags=["batches"], summary="Batch over uploaded files (job, multipart)",
      status_code=202, responses=UPLOAD_ERRORS, request_max_body_size=None, operation_class=UploadOperation)
async def batch_extract_upload_async(request: Request, principal: NamedDependency[Principal],
                                     planner: NamedDependency[BatchPlanner], inputs: NamedDependency[InputStore],
                                     jobs: NamedDependency[JobService]) -> Response[JobAcceptedOut]:
    require_scopes(principal, Scope.EXTRACT_RUN)
    upload = await read_upload(request, principal, inputs)
    try:
        key, digest = idempotency_key(request), upload.digest()
        if key and (existing := await jobs.replay(principal, key, digest)):
            return accepted(existing)
        plan = await plan_upload(upload, planner, inputs, allow_ephemeral=False)
        plan = await with_ground_truth(request, plan, upload.gt_id, principal)
    finally:
        upload.form.cleanup()
    job = await jobs.submit(kind=JobKind.BATCH_UPLOAD, request={"plan": msgspec.to_builtins(plan)},
                            principal=principal, total=len(plan.items), idempotency_key=key, fingerprint=digest)
    return accepted(job)
