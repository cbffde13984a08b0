"""Use cases around async jobs (SPEC §4 async endpoints, §7): submit with idempotency,
read, long-poll, result, cancel, list — all owner-scoped (others' jobs are 404)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import msgspec

from application.job_signals import JobSignals
from application.ports.blobs import BlobStore
from application.ports.jobs import JobPage, JobQueue, JobStore
from domain.auth import Principal, can_see
from domain.errors import ConflictError, DomainError, NotFoundError, ValidationFailedError
from domain.ids import check_id, new_id, utc_now
from domain.jobs import Job, JobStatus, new_job, request_cancel

logger = logging.getLogger("ocr.jobs")

IDEMPOTENCY_TTL = timedelta(hours=24)
MAX_WAIT_S = 30.0


class JobService:
    def __init__(self, *, store: JobStore, queue: JobQueue, blobs: BlobStore,
                 clock: Callable[[], datetime] = utc_now, poll_interval_s: float = 0.2,
                 signals: JobSignals | None = None) -> None:
        self._signals = signals or JobSignals()
        self._store = store
        self._queue = queue
        self._blobs = blobs
        self._clock = clock
        self._poll_interval_s = poll_interval_s

    async def submit(self, *, kind: str, request: dict[str, Any], principal: Principal, total: int | None = None,
                     idempotency_key: str | None = None, fingerprint: str | None = None,
                     job_id: str | None = None) -> Job:
        if idempotency_key:
            existing = await self._idempotent_match(principal, idempotency_key, fingerprint)
            if existing is not None:
                return existing
        job = new_job(job_id=job_id or new_id(), kind=kind, owner_key_id=principal.key_id, owner_role=principal.role,
                      request=request, at=self._clock(), total=total, idempotency_key=idempotency_key,
                      request_sha256=fingerprint)
        try:
            await self._store.create(job)
        except ConflictError as exc:
            if exc.code != "idempotency_conflict" or not idempotency_key:
                raise
            existing = await self._idempotent_match(principal, idempotency_key, fingerprint)  # lost a race
            if existing is None:
                raise
            return existing
        await self._enqueue(job)
        logger.info("job queued", extra={"event": "job_queued", "job_id": job.job_id, "kind": kind})
        return job

    async def replay(self, principal: Principal, key: str, fingerprint: str) -> Job | None:
        """The job an Idempotency-Key already names (same body), None if it names none; a
        different body is a 422."""
        return await self._idempotent_match(principal, key, fingerprint)

    async def _idempotent_match(self, principal: Principal, key: str, fingerprint: str | None) -> Job | None:
        existing = await self._store.find_by_idempotency_key(principal.key_id, key)
        if existing is None:
            return None
        if existing.created_at < self._clock() - IDEMPOTENCY_TTL:
            await self._store.release_idempotency_key(existing.job_id)
            return None
        if existing.request_sha256 != fingerprint:
            raise ValidationFailedError("Idempotency-Key was used with a different request body", details={
                "errors": [{"path": "$", "message": "Idempotency-Key reused with a different body"}]})
        return existing

    async def _enqueue(self, job: Job) -> None:
        try:
            await self._queue.enqueue(job.job_id)
        except DomainError:
            # The job must not sit queued forever: cancel it and tell the caller.
            await self._store.update(job.job_id, lambda j: msgspec.structs.replace(
                request_cancel(j, at=self._clock()),
                error={"code": "enqueue_failed", "message": "the job queue was unavailable", "retryable": True}))
            raise

    async def get(self, job_id: str, principal: Principal) -> Job:
        check_id(job_id, "job_id")
        job = await self._store.get(job_id)
        if job is None or not can_see(principal, job.owner_key_id):
            raise NotFoundError(f"no job {job_id}")
        return job

    async def wait(self, job_id: str, principal: Principal, wait_s: float) -> Job:
        """Long-poll: return as soon as the status changes, or after ``wait_s`` (≤ 30 s).
        Between polls only the status is read; the whole job (its request can be a large
        batch plan) is read once it changed."""
        job = await self.get(job_id, principal)
        deadline = time.monotonic() + min(max(wait_s, 0.0), MAX_WAIT_S)
        while not job.is_terminal and time.monotonic() < deadline:
            await self._signals.wait(job_id, min(self._poll_interval_s, max(deadline - time.monotonic(), 0)))
            control = await self._store.control(job_id)
            if control is None or control.status != job.status:
                return await self._store.get(job_id) or job
        if job.is_terminal:
            return job
        return await self._store.get(job_id) or job  # unchanged status, current progress

    async def result(self, job_id: str, principal: Principal) -> dict[str, Any]:
        job = await self.get(job_id, principal)
        if not job.is_terminal:
            raise ConflictError(f"job {job_id} is {job.status.value}; its result is not ready",
                                details={"status": job.status.value})
        if job.result_rel is None:
            raise NotFoundError(f"job {job_id} ended {job.status.value} without a result",
                                details={"status": job.status.value, "error": job.error})
        return msgspec.json.decode(await self._blobs.get(job.result_rel))

    async def cancel(self, job_id: str, principal: Principal) -> Job:
        await self.get(job_id, principal)
        job = await self._store.update(job_id, lambda j: request_cancel(j, at=self._clock()))
        logger.info("job cancel requested", extra={"event": "job_cancel", "job_id": job_id,
                                                   "status": job.status.value})
        return job

    async def list(self, principal: Principal, *, status: JobStatus | None, limit: int,
                   cursor: str | None) -> JobPage:
        owner = None if principal.sees_everything() else principal.key_id
        return await self._store.page(owner_key_id=owner, status=status, limit=limit, cursor=cursor)
