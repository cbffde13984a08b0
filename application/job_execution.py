"""Executing one job: the same use cases as the sync endpoints, run by any runner (local
asyncio or a Celery worker). Idempotent: a job that is no longer queued is skipped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import msgspec

from application.batch_feed import RECEIVING, ItemFeeds
from application.batch_types import BatchPlan
from application.batches import BatchRunner
from application.extract import Extractor
from application.extract_types import DebugOverrides, ExtractCommand
from application.job_results import extract_response
from application.job_signals import JobSignals
from application.ports.blobs import BlobStore
from application.ports.jobs import JobStore
from domain.artifacts import ArtifactKind, artifact_rel
from domain.auth import ANONYMOUS, ANONYMOUS_KEY_ID, Principal, Role, scopes_for
from domain.errors import DomainError, NotFoundError
from domain.ids import utc_now
from domain.jobs import (
    TERMINAL,
    IllegalTransitionError,
    Job,
    JobKind,
    JobStatus,
    finish,
    report_progress,
    start,
)

logger = logging.getLogger("ocr.jobs")


def principal_of(job: Job) -> Principal:
    if job.owner_key_id == ANONYMOUS_KEY_ID and job.owner_role == ANONYMOUS.role:
        return ANONYMOUS
    scopes = scopes_for(Role(job.owner_role)) if job.owner_role in Role.__members__.values() else ()
    return Principal(key_id=job.owner_key_id, role=job.owner_role, scopes=scopes)


class JobExecutor:
    def __init__(self, *, store: JobStore, extractor: Extractor, batches: BatchRunner, blobs: BlobStore,
                 clock: Callable[[], datetime] = utc_now, progress_interval_s: float = 0.5,
                 cancel_check_interval_s: float = 0.05, heartbeat_s: float | None = 10.0,
                 signals: JobSignals | None = None, feeds: ItemFeeds | None = None) -> None:
        self._signals = signals or JobSignals()
        self._feeds = feeds
        self._store = store
        self._extractor = extractor
        self._batches = batches
        self._blobs = blobs
        self._clock = clock
        self._progress_interval_s = progress_interval_s
        self._cancel_check_interval_s = cancel_check_interval_s
        self._heartbeat_s = heartbeat_s

    async def execute(self, job_id: str) -> None:
        try:
            job = await self._store.update(job_id, lambda j: start(j, at=self._clock()))
        except (IllegalTransitionError, NotFoundError):
            logger.info("job skipped: not queued", extra={"event": "job_skipped", "job_id": job_id})
            return
        self._signals.changed(job_id)
        logger.info("job started", extra={"event": "job_start", "job_id": job_id, "kind": job.kind})
        started = time.perf_counter()
        async with self._heartbeat(job_id):
            status, fields = await self._outcome(job)
        await self._finish(job_id, status, **fields)
        logger.info("job finished", extra={"event": "job_end", "job_id": job_id,
                                           "duration_ms": int((time.perf_counter() - started) * 1000)})

    async def _outcome(self, job: Job) -> tuple[JobStatus, dict[str, Any]]:
        try:
            status, body, meta, error = await self._run(job)
            rel = artifact_rel(ArtifactKind.JOB, job.job_id, job.created_at)
            await self._blobs.put(rel, msgspec.json.encode(body))
            return status, {"result_rel": rel, "result_meta": meta, "error": error}
        except DomainError as exc:
            return JobStatus.FAILED, {"error": {
                "code": exc.code, "message": exc.message, "retryable": bool(exc.details.get("retryable"))}}
        except Exception:
            logger.exception("job crashed", extra={"event": "job_error", "job_id": job.job_id})
            return JobStatus.FAILED, {"error": {
                "code": "internal_error", "message": "internal error", "retryable": False}}

    @contextlib.asynccontextmanager
    async def _heartbeat(self, job_id: str) -> AsyncIterator[None]:
        """Refresh ``updated_at`` while the job runs, so a sweep can tell a live job from one
        whose worker died (ADR 0005). Batches also beat through their progress reports."""
        if not self._heartbeat_s:
            yield
            return
        beat = asyncio.create_task(self._beat(job_id, self._heartbeat_s), name=f"job-heartbeat-{job_id}")
        try:
            yield
        finally:
            beat.cancel()
            # gather, not a bare await: a cancellation of execute itself must still propagate.
            await asyncio.gather(beat, return_exceptions=True)

    async def _beat(self, job_id: str, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self._store.update(job_id, lambda j: report_progress(j, j.progress or {}, at=self._clock()))
            except (IllegalTransitionError, NotFoundError):
                return  # final (or marked stale) elsewhere: nothing left to keep alive
            except DomainError as exc:  # the database hiccuped: the next beat may get through
                logger.warning("job heartbeat failed", extra={"event": "job_heartbeat_error", "job_id": job_id,
                                                              "error": exc.code})

    async def _finish(self, job_id: str, status: JobStatus, **fields: Any) -> None:
        try:
            await self._store.update(job_id, lambda j: finish(j, status, at=self._clock(), **fields))
        except IllegalTransitionError:  # marked stale meanwhile: terminal states never change
            logger.warning("job already final", extra={"event": "job_finish_skipped", "job_id": job_id})
        self._signals.changed(job_id)

    async def _run(self, job: Job) -> tuple[JobStatus, dict[str, Any], dict[str, Any], dict[str, Any] | None]:
        principal = principal_of(job)
        if job.kind == JobKind.EXTRACT:
            return await self._run_extract(job, principal)
        feed = self._feeds.get(job.job_id) if self._feeds is not None else None
        if feed is None and job.request.get(RECEIVING):
            job = await self._settled(job)
        plan = msgspec.convert(job.request["plan"], BatchPlan)
        outcome = await self._batches.run(plan, principal, feed=feed, progress=self._progress_sink(job.job_id),
                                          should_cancel=self._cancel_probe(job.job_id))
        body = outcome.response
        meta = {k: body[k] for k in ("run_id", "artifact_rel", "item_count", "ok_count", "error_count")}
        status = JobStatus.CANCELED if outcome.canceled else JobStatus.SUCCEEDED
        return status, body, meta, feed.failure if feed is not None else None

    async def _settled(self, job: Job) -> Job:
        """A job whose upload was still arriving, without the feed of that upload here: its
        complete plan if the upload ended meanwhile; otherwise the process that received it
        stopped in mid-upload (ADR 0051)."""
        current = await self._store.get(job.job_id)
        if current is None or current.request.get(RECEIVING):
            raise DomainError("the service stopped while this batch's upload was arriving; finished items are kept",
                              code="stale_after_restart", retryable=True)
        return current

    async def _run_extract(self, job: Job, principal: Principal) -> tuple[
            JobStatus, dict[str, Any], dict[str, Any], None]:
        req = job.request
        debug = msgspec.convert(req["debug"], DebugOverrides) if req.get("debug") else None
        result = await self._extractor.run(ExtractCommand(
            task_id=req["task_id"], request_id=req["request_id"], mime_type=req.get("mime_type", "image/jpeg"),
            image_ref=req["image_ref"], debug=debug), principal)
        current = await self._store.get(job.job_id)
        status = JobStatus.CANCELED if current and current.cancel_requested else JobStatus.SUCCEEDED
        meta = {"request_id": result.request_id, "artifact_rel": result.artifact_rel, "ok": result.error is None,
                "error_code": result.error.code if result.error else None}
        return status, extract_response(result), meta, None

    def _progress_sink(self, job_id: str):  # noqa: ANN202 - returns the batch runner's ProgressSink
        last = {"at": 0.0}

        async def sink(progress: dict[str, Any]) -> None:
            now = time.monotonic()
            final = progress["stage"] == "finalizing" or progress["done"] == progress["total"]
            if not final and now - last["at"] < self._progress_interval_s:
                return
            last["at"] = now
            with contextlib.suppress(IllegalTransitionError):  # finished elsewhere: the batch ends on its own
                await self._store.update(job_id, lambda j: report_progress(j, progress, at=self._clock()))

        return sink

    def _cancel_probe(self, job_id: str):  # noqa: ANN202 - returns the batch runner's CancelProbe
        state = {"at": 0.0, "cancel": False}

        async def should_cancel() -> bool:
            now = time.monotonic()
            if not state["cancel"] and now - state["at"] >= self._cancel_check_interval_s:
                state["at"] = now
                control = await self._store.control(job_id)
                state["cancel"] = (control is None or control.cancel_requested
                                   or control.status in TERMINAL)
            return state["cancel"]

        return should_cancel
