"""Upload batches that start while their body still arrives (ADR 0051).

At the first file, once the form fields are known and valid, a job is created and handed to
the local runner with an item feed; every stored file becomes an item at once. When the body
ends, the complete plan and the idempotency fingerprint are written to the job and the feed is
closed; when the upload is refused midway, the job stops like a cancel (its finished items are
kept) and the inputs no item was handed are removed. Only where this process runs its jobs:
with Celery the items could not reach the worker, so uploads take the ordinary path there.

A job still marked ``receiving`` with no feed in the process that runs it is the remnant of a
restart in mid-upload; the executor fails it with ``stale_after_restart``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from application.batch_feed import RECEIVING, ItemFeed, ItemFeeds
from application.batch_types import BatchPlan
from application.inputs import InputStore
from application.jobs import JobService
from application.ports.jobs import JobStore
from domain.auth import Principal
from domain.errors import DomainError
from domain.ids import new_id, utc_now
from domain.jobs import (
    IllegalTransitionError,
    Job,
    JobKind,
    request_cancel,
    settle_request,
)

logger = logging.getLogger("ocr.jobs")

@dataclass
class LiveUpload:
    job_id: str
    plan: BatchPlan  # the plan without items: task, run id, concurrency, ground truth
    feed: ItemFeed


class LiveUploads:
    def __init__(self, *, jobs: JobService, store: JobStore, feeds: ItemFeeds, inputs: InputStore,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._jobs = jobs
        self._store = store
        self._feeds = feeds
        self._inputs = inputs
        self._clock = clock

    async def open(self, head: BatchPlan, principal: Principal, *, idempotency_key: str | None) -> LiveUpload | None:
        """The started job, or None when this upload must take the ordinary path: its
        Idempotency-Key already names a job (the body decides between replay and 422)."""
        if idempotency_key and await self._store.find_by_idempotency_key(principal.key_id, idempotency_key):
            return None
        job_id = new_id()
        feed = self._feeds.open(job_id)  # before the job can reach a runner
        request = {"plan": msgspec.to_builtins(head), RECEIVING: True}
        try:
            job = await self._jobs.submit(kind=JobKind.BATCH_UPLOAD, request=request, principal=principal,
                                          total=0, idempotency_key=idempotency_key, job_id=job_id)
        except DomainError:
            self._feeds.drop(job_id)
            if idempotency_key:  # another request took the key meanwhile
                return None
            raise
        if job.job_id != job_id:
            self._feeds.drop(job_id)
            return None
        logger.info("upload batch started while receiving", extra={"event": "upload_live", "job_id": job_id})
        return LiveUpload(job_id=job_id, plan=head, feed=feed)

    async def settle(self, live: LiveUpload, plan: BatchPlan, fingerprint: str) -> Job:
        """The body ended: record the complete plan and fingerprint, then close the feed."""
        try:
            job = await self._store.update(live.job_id, lambda j: settle_request(
                j, {"plan": msgspec.to_builtins(plan)}, request_sha256=fingerprint, at=self._clock(),
                total=len(plan.items)))
        except IllegalTransitionError:  # canceled while the body arrived: it stays as it ended
            job = await self._store.get(live.job_id)
            assert job is not None
        live.feed.close(len(plan.items))
        self._feeds.drop(live.job_id)
        return job

    async def abandon(self, live: LiveUpload, failure: dict[str, Any], *, discard: list[str]) -> Job | None:
        """The upload was refused (or superseded): stop the job — a queued one never runs, a
        running one stops dispatching and ends ``canceled`` with its finished items — free its
        Idempotency-Key, then remove the inputs in ``discard`` that no item was handed."""
        live.feed.abort(failure)
        job: Job | None
        try:
            job = await self._store.update(live.job_id, lambda j: request_cancel(j, at=self._clock()))
        except IllegalTransitionError:
            job = await self._store.get(live.job_id)
        except DomainError as exc:  # the abort alone still stops a running batch
            logger.warning("could not cancel a refused upload's job", extra={
                "event": "upload_live_cancel_failed", "job_id": live.job_id, "error": exc.code})
            job = None
        if job is not None and job.idempotency_key:
            # The request was refused, so its key names no job: a retry (or the restarted
            # batch of a superseded one) starts afresh under it.
            try:
                await self._store.release_idempotency_key(live.job_id)
            except DomainError as exc:
                logger.warning("could not free a refused upload's key", extra={
                    "event": "upload_live_key_kept", "job_id": live.job_id, "error": exc.code})
        self._feeds.drop(live.job_id)
        # Aborted, the feed hands out no further item: what was taken is all the job will read.
        await self._inputs.discard(sorted(set(discard) - live.feed.taken_refs))
        logger.info("upload batch stopped: upload refused", extra={
            "event": "upload_live_abandoned", "job_id": live.job_id, "code": failure.get("code"),
            "items_started": len(live.feed.taken_refs)})
        return job
