"""What a runner does when it starts: jobs left running by a dead runner are failed with
``stale_after_restart`` (ADR 0005), queued jobs are handed to the queue again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from application.ports.jobs import JobQueue, JobStore
from domain.ids import utc_now
from domain.jobs import IllegalTransitionError, JobStatus, mark_stale

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
