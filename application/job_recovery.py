"""Jobs whose runner died (ADR 0005).

* ``recover_jobs`` — what the local runner does when it starts: it owns every job of its
  process, so every job left ``running`` is failed with ``stale_after_restart`` and the queued
  ones are handed to the queue again.
* ``sweep_stale_jobs`` — what Celery workers do, on start and periodically: other workers may
  be running jobs right now, so only a job whose heartbeat (``updated_at``) is older than
  ``stale_after`` is failed. The age is checked again inside the atomic update, so a heartbeat
  that lands first keeps its job alive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from application.ports.jobs import JobQueue, JobStore
from domain.errors import DomainError, NotFoundError
from domain.ids import utc_now
from domain.jobs import IllegalTransitionError, Job, JobStatus, mark_stale

logger = logging.getLogger("ocr.jobs")


async def recover_jobs(store: JobStore, queue: JobQueue, *, clock: Callable[[], datetime] = utc_now) -> dict[str, int]:
    stale = 0
    for job_id in await store.ids_with_status(JobStatus.RUNNING):
        try:
            await store.update(job_id, lambda j: mark_stale(j, at=clock()))
            stale += 1
        except IllegalTransitionError:
            continue
    queued = await store.ids_with_status(JobStatus.QUEUED)
    for job_id in queued:
        await queue.enqueue(job_id)
    if stale or queued:
        logger.warning("recovered jobs after a restart", extra={"event": "job_recovery", "stale": stale,
                                                                "requeued": len(queued)})
    return {"stale": stale, "requeued": len(queued)}


class _StillAlive(Exception):
    """Raised by the change function: the job beat since it was listed; nothing is written."""


async def sweep_stale_jobs(store: JobStore, *, stale_after: timedelta,
                           clock: Callable[[], datetime] = utc_now) -> list[str]:
    """Fail running jobs without a heartbeat for ``stale_after``; returns their ids."""

    def fail_if_stale(job: Job) -> Job:
        now = clock()
        if job.updated_at > now - stale_after:
            raise _StillAlive
        return mark_stale(job, at=now)

    swept = []
    for job_id in await store.ids_with_status(JobStatus.RUNNING):
        job = await store.get(job_id)
        if job is None or job.status is not JobStatus.RUNNING or job.updated_at > clock() - stale_after:
            continue
        try:
            await store.update(job_id, fail_if_stale)
        except (_StillAlive, IllegalTransitionError, NotFoundError):
            continue
        swept.append(job_id)
        logger.warning("stale job failed", extra={"event": "job_stale", "job_id": job_id,
                                                  "last_seen": job.updated_at.isoformat()})
    return swept


async def sweep_stale_jobs_forever(store: JobStore, *, stale_after: timedelta, every_s: float,
                                   clock: Callable[[], datetime] = utc_now) -> None:
    """Sweep now, then every ``every_s`` seconds until cancelled; a failed sweep is retried."""
    while True:
        try:
            await sweep_stale_jobs(store, stale_after=stale_after, clock=clock)
        except DomainError as exc:
            logger.warning("stale job sweep failed", extra={"event": "job_sweep_error", "error": exc.code})
        await asyncio.sleep(every_s)
