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
from domain.errors import InvalidInputError
from domain.jobs import JobKind
from entrypoints.http.accepted import accepted, fingerprint, idempotency_key
from entrypoints.http.openapi import (
    ACCEPTED_HEADERS,
    AUTH,
    KEY,
    JobOperation,
    UploadJobOperation,
    UploadOperation,
    errors,
)
from entrypoints.http.schemas import BatchExtractIn, BatchExtractOut, BatchRerunIn, JobAcceptedOut
from entrypoints.http.uploads import BatchUpload, EarlyStart, plan_upload, read_upload

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
                                    concurrency=data.concurrency, new_run_id=data.new_run_id, limit=data.limit,
                                    only_failed=data.only_failed or data.error_codes is not None,
                                    error_codes=data.error_codes)
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
      responses=BATCH_ERRORS, security=KEY)
async def batch_extract(request: Request, data: JSONBody[BatchExtractIn], principal: NamedDependency[Principal],
                        planner: NamedDependency[BatchPlanner], batch_runner: NamedDependency[BatchRunner]) -> BatchExtractOut:
    require_scopes(principal, Scope.EXTRACT_RUN)
    return await _run(await _dir_plan(request, data, planner, principal), principal, batch_runner)


@post("/v1/batch_extract_async", tags=["batches"], summary="Batch over a DATA_ROOT folder (job)", status_code=202,
      responses=BATCH_ERRORS, security=KEY, response_headers=ACCEPTED_HEADERS, operation_class=JobOperation)
async def batch_extract_async(request: Request, data: JSONBody[BatchExtractIn], principal: NamedDependency[Principal],
                              planner: NamedDependency[BatchPlanner],
                              jobs: NamedDependency[JobService]) -> Response[JobAcceptedOut]:
    require_scopes(principal, Scope.EXTRACT_RUN)
    key = idempotency_key(request)
    if key and (existing := await jobs.replay(principal, key, fingerprint(data))):
        return accepted(existing)
    return await _submit(request, await _dir_plan(request, data, planner, principal), principal, jobs, data)


@post("/v1/batch_extract_rerun", tags=["batches"], summary="Rerun a stored run from its inputs (sync)",
      status_code=200, responses=BATCH_ERRORS, security=KEY)
async def batch_extract_rerun(request: Request, data: JSONBody[BatchRerunIn], principal: NamedDependency[Principal],
                              planner: NamedDependency[BatchPlanner],
                              batch_runner: NamedDependency[BatchRunner]) -> BatchExtractOut:
    require_scopes(principal, Scope.EXTRACT_RUN)
    return await _run(await _rerun_plan(request, data, planner, principal), principal, batch_runner)


@post("/v1/batch_extract_rerun_async", tags=["batches"], summary="Rerun a stored run from its inputs (job)",
      status_code=202, responses=BATCH_ERRORS, security=KEY, response_headers=ACCEPTED_HEADERS,
      operation_class=JobOperation)
async def batch_extract_rerun_async(request: Request, data: JSONBody[BatchRerunIn],
                                    principal: NamedDependency[Principal], planner: NamedDependency[BatchPlanner],
                                    jobs: NamedDependency[JobService]) -> Response[JobAcceptedOut]:
    require_scopes(principal, Scope.EXTRACT_RUN)
    key = idempotency_key(request)
    if key and (existing := await jobs.replay(principal, key, fingerprint(data))):
        return accepted(existing)
    return await _submit(request, await _rerun_plan(request, data, planner, principal), principal, jobs, data)


@post("/v1/batch_extract_upload", tags=["batches"], summary="Batch over uploaded files (sync, multipart)",
      status_code=200, responses=UPLOAD_ERRORS, request_max_body_size=None, operation_class=UploadOperation, security=KEY)
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
      status_code=202, responses=UPLOAD_ERRORS, request_max_body_size=None, operation_class=UploadJobOperation,
      security=KEY, response_headers=ACCEPTED_HEADERS)
async def batch_extract_upload_async(request: Request, principal: NamedDependency[Principal],
                                     planner: NamedDependency[BatchPlanner], inputs: NamedDependency[InputStore],
                                     jobs: NamedDependency[JobService]) -> Response[JobAcceptedOut]:
    """With the local job runner the job starts at the first file, once the fields before it are
    valid, and runs each stored file while the rest of the body arrives; send the fields first.
    A 413 after the job started names it in `details.job_id` (it ends `canceled` with the items
    it finished)."""
    require_scopes(principal, Scope.EXTRACT_RUN)
    key = idempotency_key(request)
    live_uploads = request.app.state.services.live_uploads
    early = None if live_uploads is None else EarlyStart(
        live_uploads, planner=planner, principal=principal, idempotency_key=key,
        check_ground_truth=lambda gt_id: request.app.state.services.ground_truths.get(gt_id, principal))
    upload = await read_upload(request, principal, inputs, early)
    try:
        digest = upload.digest()
        if early is not None and early.live is not None:
            if upload.form.fields == early.fields:
                return await _settle(early, upload, planner, inputs, digest)
            # A field after the first file changed the request: the early job gives way.
            await early.refused(InvalidInputError("form fields after the first file changed the request; "
                                                  "the batch was restarted with them", code="superseded"), [])
        if key and (existing := await jobs.replay(principal, key, digest)):
            return accepted(existing)
        plan = await plan_upload(upload, planner, inputs, allow_ephemeral=False)
        plan = await with_ground_truth(request, plan, upload.gt_id, principal)
    finally:
        upload.form.cleanup()
    job = await jobs.submit(kind=JobKind.BATCH_UPLOAD, request={"plan": msgspec.to_builtins(plan)},
                            principal=principal, total=len(plan.items), idempotency_key=key, fingerprint=digest)
    return accepted(job)


async def _settle(early: EarlyStart, upload: BatchUpload, planner: BatchPlanner, inputs: InputStore,
                  digest: str) -> Response[JobAcceptedOut]:
    """The body of an early-started upload ended: its complete plan goes to the running job."""
    assert early.live is not None
    live = early.live
    try:
        plan = await plan_upload(upload, planner, inputs, allow_ephemeral=False, run_id=live.plan.run_id)
        plan = msgspec.structs.replace(plan, gt_id=live.plan.gt_id)
        job = await early.settle(plan, digest)
    except BaseException as exc:
        if early.live is not None:
            await early.refused(exc, [f.ref for f in upload.form.files if f.created and f.ref])
        raise
    return accepted(job)
