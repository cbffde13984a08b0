"""Jobs (SPEC §7): statuses, the only legal transitions, and the change functions a store
applies atomically. Terminal states never change. A running job whose runner stopped goes
back to ``queued`` and resumes (ADR 0052)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import msgspec

from domain.errors import ConflictError


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class JobKind(StrEnum):
    EXTRACT = "extract"
    BATCH_DIR = "batch_extract"
    BATCH_UPLOAD = "batch_extract_upload"
    BATCH_RERUN = "batch_extract_rerun"


# Jobs of one item: their progress counts that item like a batch counts its items (SPEC §7).
SINGLE_ITEM_KINDS = frozenset({JobKind.EXTRACT})

TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})
ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELED}),
    # running → queued: the runner stopped (restart, deploy, dead worker); the job resumes (ADR 0052).
    JobStatus.RUNNING: frozenset({JobStatus.QUEUED, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELED: frozenset(),
}


class IllegalTransitionError(ConflictError):
    code = "conflict"


class Job(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    kind: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    owner_key_id: str
    owner_role: str
    request: dict[str, Any]
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cancel_requested: bool = False
    progress: dict[str, Any] | None = None
    result_rel: str | None = None
    result_meta: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    idempotency_key: str | None = None
    request_sha256: str | None = None
    attempts: int = 0

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


def new_job(*, job_id: str, kind: str, owner_key_id: str, owner_role: str, request: dict[str, Any],
            at: datetime, total: int | None = None, idempotency_key: str | None = None,
            request_sha256: str | None = None) -> Job:
    return Job(job_id=job_id, kind=kind, status=JobStatus.QUEUED, created_at=at, updated_at=at,
               owner_key_id=owner_key_id, owner_role=owner_role, request=request,
               progress=queued_progress(total), idempotency_key=idempotency_key,
               request_sha256=request_sha256)


def queued_progress(total: int | None) -> dict[str, Any]:
    return {"stage": "queued", "total": total, "done": 0, "ok": 0, "err": 0, "current": None}


def accepted_status(job: Job) -> Literal["queued", "running"]:
    """The ``status`` of a 202 answer (SPEC §4): ``queued``, or ``running`` once work on the job
    has started (an upload whose items start while its body arrives). A replayed
    Idempotency-Key may name a job that has ended since: it answers as far as the job got
    (started or not); its final status is at its poll URL."""
    if job.status is JobStatus.RUNNING or job.started_at is not None:
        return "running"
    return "queued"


def can_transition(source: JobStatus, target: JobStatus) -> bool:
    return target in ALLOWED[source]


def advance(job: Job, target: JobStatus, *, at: datetime, **changes: Any) -> Job:
    if not can_transition(job.status, target):
        raise IllegalTransitionError(
            f"job {job.job_id} cannot go from {job.status.value} to {target.value}",
            details={"status": job.status.value, "target": target.value},
        )
    if target in TERMINAL:
        changes.setdefault("finished_at", at)
    return msgspec.structs.replace(job, status=target, updated_at=at, **changes)


def start(job: Job, *, at: datetime) -> Job:
    """queued → running; the attempt counter records every start."""
    progress = dict(job.progress or queued_progress(None))
    progress["stage"] = "running" if job.kind == JobKind.EXTRACT else "extracting"
    return advance(job, JobStatus.RUNNING, at=at, started_at=at, attempts=job.attempts + 1, progress=progress)


def finish(job: Job, target: JobStatus, *, at: datetime, result_rel: str | None = None,
           result_meta: dict[str, Any] | None = None, error: dict[str, Any] | None = None,
           item_ok: bool | None = None) -> Job:
    """The final status. A cancel acknowledged while the job ran wins over ``succeeded``: it is
    decided here, inside the same atomic update that finishes the job. ``item_ok``: the one
    item of a single-item job ended (ok or not), counted in its progress."""
    if target not in TERMINAL:
        raise IllegalTransitionError(f"{target.value} is not a final status")
    if target is JobStatus.SUCCEEDED and job.cancel_requested:
        target = JobStatus.CANCELED
    progress = dict(job.progress or queued_progress(None))
    if item_ok is not None:
        progress.update(item_counts(item_ok))
    progress["stage"] = target.value
    return advance(job, target, at=at, result_rel=result_rel, result_meta=result_meta, error=error,
                   progress=progress)


def item_counts(ok: bool) -> dict[str, Any]:
    """The progress counts of a single-item job whose item ended: done 1, and ok 1 or err 1
    (an item that failed is counted done, as in a batch)."""
    return {"total": 1, "done": 1, "ok": int(ok), "err": int(not ok), "current": None}


def request_cancel(job: Job, *, at: datetime) -> Job:
    """A queued job is canceled at once and never runs; a running one is asked to stop."""
    if job.status is JobStatus.QUEUED:
        progress = dict(job.progress or queued_progress(None))
        progress["stage"] = JobStatus.CANCELED.value
        return advance(job, JobStatus.CANCELED, at=at, cancel_requested=True, progress=progress)
    if job.status is JobStatus.RUNNING:
        return msgspec.structs.replace(job, cancel_requested=True, updated_at=at)
    raise IllegalTransitionError(f"job {job.job_id} is already {job.status.value}",
                                 details={"status": job.status.value})


def report_progress(job: Job, progress: dict[str, Any], *, at: datetime) -> Job:
    """Progress (and the heartbeat in ``updated_at``) only moves while the job runs."""
    if job.status is not JobStatus.RUNNING:
        raise IllegalTransitionError(f"job {job.job_id} is {job.status.value}; progress is closed")
    return msgspec.structs.replace(job, progress=progress, updated_at=at)


def requeue(job: Job, *, at: datetime, handed_back: bool = False) -> Job:
    """running → queued: the runner stopped before the job ended; the next start resumes it,
    reusing what finished (ADR 0052). A job whose cancel was acknowledged ends canceled instead.
    ``handed_back``: its runner stopped in good order (a deploy) and handed it back, so that
    start does not count against ``JOBS_MAX_ATTEMPTS`` — only starts cut short by a crash do."""
    if job.status is JobStatus.RUNNING and job.cancel_requested:
        return finish(job, JobStatus.CANCELED, at=at, result_rel=job.result_rel, result_meta=job.result_meta)
    progress = dict(job.progress or queued_progress(None))
    progress["stage"] = JobStatus.QUEUED.value
    attempts = max(job.attempts - 1, 0) if handed_back else job.attempts
    return advance(job, JobStatus.QUEUED, at=at, progress=progress, attempts=attempts)


def was_started_at(job: Job, at: datetime) -> bool:
    """Does ``job`` run from the start stamped ``at``? (A start retried after a lost answer
    finds its own start instead of a queued job.)"""
    return job.status is JobStatus.RUNNING and job.started_at == at


def salvaging(job: Job, max_attempts: int) -> bool:
    """A job started more often than ``max_attempts`` only collects what finished: every
    earlier attempt was cut short by a crash (a crash loop must end, with the finished items
    kept); attempts handed back in good order are not counted."""
    return job.attempts > max_attempts


def mark_stale(job: Job, *, at: datetime) -> Job:
    """A running job that cannot resume (an upload whose body died with the process, ADR
    0051): failed with ``stale_after_restart``."""
    return finish(job, JobStatus.FAILED, at=at, result_rel=job.result_rel, result_meta=job.result_meta,
                  error={"code": "stale_after_restart",
                         "message": "the runner stopped while the job was running; finished items are kept",
                         "retryable": True})


def settle_request(job: Job, request: dict[str, Any], *, request_sha256: str | None, at: datetime,
                   total: int | None = None) -> Job:
    """An upload batch that started while its body still arrived (ADR 0051) records its complete
    request, fingerprint and item count once the body has ended. Only while the job is not final."""
    if job.is_terminal:
        raise IllegalTransitionError(f"job {job.job_id} is already {job.status.value}",
                                     details={"status": job.status.value})
    progress = dict(job.progress or queued_progress(total))
    if total is not None:
        progress["total"] = total
    return msgspec.structs.replace(job, request=request, request_sha256=request_sha256, progress=progress,
                                   updated_at=at)
