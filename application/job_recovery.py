"""Jobs whose runner stopped, and jobs nobody is going to run (ADR 0052, superseding ADR 0005).

A running job whose runner stopped goes back to ``queued`` (``domain.jobs.requeue``) and
resumes: the items it finished are reused, the rest run. Nothing is failed here; a job
started more than ``JOBS_MAX_ATTEMPTS`` times only salvages what finished (the executor).

* ``recover_jobs`` — the local runner at start: it owns every job of its database (one
  process, ``serve --workers N`` is refused), so every job left ``running`` is requeued and
  every queued job is handed to its queue.
* ``sweep_stale_jobs`` — periodically, in the local runner and in every Celery worker: a
  running job that no runner here executes and whose heartbeat (``updated_at``) is older than
  ``stale_after`` is requeued (and enqueued again for Celery). The age is checked again
  inside the atomic update, so a heartbeat that lands first keeps its job alive.
* ``enqueue_lost_jobs`` — a queued job that is not waiting in any queue (its start write
  failed, or the broker lost its message) is handed to the queue again; a duplicate is
  harmless, execution skips a job that is no longer queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from application.ports.jobs import JobQueue, JobStore
from domain.errors import DomainError, NotFoundError
from domain.ids import utc_now
from domain.jobs import IllegalTransitionError, Job, JobStatus, requeue

logger = logging.getLogger("ocr.jobs")


async def recover_jobs(store: JobStore, queue: JobQueue, *, clock: Callable[[], datetime] = utc_now) -> dict[str, int]:
    requeued = 0
    for job_id in await store.ids_with_status(JobStatus.RUNNING):
        try:
            await store.update(job_id, lambda j: requeue(j, at=clock()))
            requeued += 1
        except (IllegalTransitionError, NotFoundError):
            continue
    queued = await store.ids_with_status(JobStatus.QUEUED)
    for job_id in queued:
        await queue.enqueue(job_id)
    if requeued or queued:
        logger.warning("recovered jobs after a restart", extra={"event": "job_recovery", "resumed": requeued,
                                                                "queued": len(queued)})
    return {"resumed": requeued, "queued": len(queued)}


class _StillAlive(Exception):
    """Raised by the change function: the job beat since it was listed; nothing is written."""


async def sweep_stale_jobs(store: JobStore, *, stale_after: timedelta, queue: JobQueue | None = None,
                           busy: Collection[str] = (), clock: Callable[[], datetime] = utc_now) -> list[str]:
    """Requeue running jobs without a heartbeat for ``stale_after`` that no runner of this
    process (``busy``) executes; returns their ids."""

    def requeue_if_stale(job: Job) -> Job:
        now = clock()
        if job.status is JobStatus.RUNNING and job.updated_at > now - stale_after:
            raise _StillAlive
        return requeue(job, at=now)

    swept = []
    for job_id in await store.ids_with_status(JobStatus.RUNNING):
        if job_id in busy:
            continue
        job = await store.get(job_id)
        if job is None or job.status is not JobStatus.RUNNING or job.updated_at > clock() - stale_after:
            continue
        try:
            changed = await store.update(job_id, requeue_if_stale)
        except (_StillAlive, IllegalTransitionError, NotFoundError):
            continue
        swept.append(job_id)
        logger.warning("stale job requeued", extra={"event": "job_stale", "job_id": job_id,
                                                    "status": changed.status.value,
                                                    "last_seen": job.updated_at.isoformat()})
        if queue is not None and changed.status is JobStatus.QUEUED:
            await queue.enqueue(job_id)
    return swept


async def enqueue_lost_jobs(store: JobStore, queue: JobQueue, *, waiting: Callable[[str], bool],
                            older_than: timedelta | None = None,
                            clock: Callable[[], datetime] = utc_now) -> list[str]:
    """Hand queued jobs that no queue holds (``waiting`` says which this process holds) to the
    queue again. ``older_than``: only jobs unchanged that long (a broker's message may be in
    flight; the local runner knows its queue exactly and passes None)."""
    lost = []
    for job_id in await store.ids_with_status(JobStatus.QUEUED):
        if waiting(job_id):
            continue
        if older_than is not None:
            job = await store.get(job_id)
            if job is None or job.status is not JobStatus.QUEUED or job.updated_at > clock() - older_than:
                continue
        await queue.enqueue(job_id)
        lost.append(job_id)
    if lost:
        logger.warning("queued jobs enqueued again", extra={"event": "job_enqueued_again", "jobs": len(lost)})
    return lost


async def sweep_forever(store: JobStore, queue: JobQueue, *, stale_after: timedelta, every_s: float,
                        busy: Callable[[], Collection[str]], waiting: Callable[[str], bool],
                        lost_after: timedelta | None, clock: Callable[[], datetime] = utc_now) -> None:
    """Sweep now, then every ``every_s`` seconds until cancelled; a failed sweep is tried again."""
    while True:
        try:
            await sweep_stale_jobs(store, stale_after=stale_after, queue=queue, busy=busy(), clock=clock)
            await enqueue_lost_jobs(store, queue, waiting=waiting, older_than=lost_after, clock=clock)
        except DomainError as exc:
            logger.warning("job sweep failed", extra={"event": "job_sweep_error", "error": exc.code})
        await asyncio.sleep(every_s)
