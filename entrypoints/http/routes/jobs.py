"""Jobs (SPEC §7): status with long-poll, result, cancel, listing."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, Parameter

from application.jobs import JobService
from domain.auth import Principal, Scope, require_scopes
from domain.errors import InvalidInputError
from domain.ids import format_ts
from domain.jobs import Job, JobStatus
from entrypoints.http.openapi import AUTH, KEY, errors
from entrypoints.http.schemas import Cursor, JobCancelOut, JobListOut, JobOut, PathId

# litestar leaves a bound of 0 out of the document (it tests the value's truth): restated as extra.
WaitSeconds = Annotated[float, Parameter(ge=0, le=30, schema_extra={"minimum": 0},
                                         description="seconds to wait for a status change")]


def job_out(job: Job) -> JobOut:
    return JobOut(
        job_id=job.job_id, kind=job.kind, status=job.status.value, created_at=format_ts(job.created_at),
        updated_at=format_ts(job.updated_at), started_at=format_ts(job.started_at) if job.started_at else None,
        finished_at=format_ts(job.finished_at) if job.finished_at else None,
        cancel_requested=job.cancel_requested, progress=job.progress, result=job.result_meta,
        result_rel=job.result_rel, error=job.error,
    )


@get("/v1/jobs/{job_id:str}", tags=["jobs"], summary="Job status (long-poll with ?wait=N)",
     responses=errors(400, *AUTH, 404), security=KEY)
async def get_job(job_id: PathId, principal: NamedDependency[Principal], jobs: NamedDependency[JobService],
                  wait: WaitSeconds = 0) -> JobOut:
    require_scopes(principal, Scope.EXTRACT_RUN)
    job = await (jobs.wait(job_id, principal, wait) if wait else jobs.get(job_id, principal))
    return job_out(job)


@get("/v1/jobs/{job_id:str}/result", tags=["jobs"], summary="The full result of a finished job",
     responses=errors(400, *AUTH, 404, 409), security=KEY)
async def job_result(request: Request, job_id: PathId, principal: NamedDependency[Principal],
                     jobs: NamedDependency[JobService]) -> dict[str, Any]:
    require_scopes(principal, Scope.EXTRACT_RUN)
    result = await jobs.result(job_id, principal)
    show_raw = request.app.state.services.settings.debug_mode and principal.has_scope(Scope.DEBUG_READ_RAW)
    if "raw" in result and not show_raw:  # same rule as the sync extract
        result["raw"] = None
    return result


@post("/v1/jobs/{job_id:str}/cancel", tags=["jobs"], summary="Cancel a job", status_code=200,
      responses=errors(400, *AUTH, 404, 409), security=KEY)
async def cancel_job(job_id: PathId, principal: NamedDependency[Principal],
                     jobs: NamedDependency[JobService]) -> JobCancelOut:
    require_scopes(principal, Scope.EXTRACT_RUN)
    job = await jobs.cancel(job_id, principal)
    return JobCancelOut(job_id=job.job_id, status=job.status.value, cancel_requested=job.cancel_requested)


@get("/v1/jobs", tags=["jobs"], summary="The caller's jobs, newest first (admin: all)",
     responses=errors(400, *AUTH), security=KEY)
async def list_jobs(principal: NamedDependency[Principal], jobs: NamedDependency[JobService],
                    status: FromQuery[str | None] = None, limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
                    cursor: Cursor = None) -> JobListOut:
    require_scopes(principal, Scope.EXTRACT_RUN)
    try:
        wanted = JobStatus(status) if status else None
    except ValueError:
        raise InvalidInputError("status must be one of " + ", ".join(s.value for s in JobStatus),
                                details={"field": "status"}) from None
    page = await jobs.list(principal, status=wanted, limit=limit, cursor=cursor or None)
    return JobListOut(items=[job_out(j) for j in page.items], next_cursor=page.next_cursor)
