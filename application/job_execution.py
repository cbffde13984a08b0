"""Executing one job: the same use cases as the sync endpoints, run by any runner (local
asyncio or a Celery worker). Idempotent: a job that is no longer queued is skipped.

Durable (ADR 0052): every state write retries through database blips; a job whose process
is stopping goes back to ``queued`` and resumes later, reusing the items it finished; a job
started more than ``max_attempts`` times only salvages what finished, so a crash loop ends.
"""

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
from application.batches import NOT_RUN, BatchRunner
from application.extract import Extractor
from application.extract_types import DebugOverrides, ExtractCommand, ExtractResult
from application.job_results import extract_response
from application.job_signals import JobSignals
from application.outages import OutageGuard, Outages
from application.persistence import WRITE_PATIENCE_S, persistently
from application.ports.blobs import BlobStore
from application.ports.jobs import JobQueue, JobStore
from domain.artifacts import ArtifactKind, artifact_rel
from domain.auth import ANONYMOUS, ANONYMOUS_KEY_ID, Principal, Role, scopes_for
from domain.errors import ArtifactExistsError, DomainError, NotFoundError
from domain.ids import utc_now
from domain.jobs import (
    SINGLE_ITEM_KINDS,
    IllegalTransitionError,
    Job,
    JobKind,
    JobStatus,
    finish,
    report_progress,
    requeue,
    salvaging,
    start,
    was_started_at,
)

logger = logging.getLogger("ocr.jobs")

REQUEUE_ON_CANCEL_S = 5.0  # a job cut short at shutdown gets this long to go back to queued


def _failed_item(job: Job) -> bool | None:
    """A single-item job that failed counts its item as done and failed (batches count their own)."""
    return False if job.kind in SINGLE_ITEM_KINDS else None


def principal_of(job: Job) -> Principal:
    if job.owner_key_id == ANONYMOUS_KEY_ID and job.owner_role == ANONYMOUS.role:
        return ANONYMOUS
    scopes = scopes_for(Role(job.owner_role)) if job.owner_role in Role.__members__.values() else ()
    return Principal(key_id=job.owner_key_id, role=job.owner_role, scopes=scopes)


class _Outcome(msgspec.Struct, frozen=True, kw_only=True):
    status: JobStatus = JobStatus.FAILED
    body: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    interrupted: bool = False
    item_ok: bool | None = None  # a single-item job's item ended: ok or not (its progress counts it)


class JobExecutor:
    def __init__(self, *, store: JobStore, extractor: Extractor, batches: BatchRunner, blobs: BlobStore,
                 clock: Callable[[], datetime] = utc_now, progress_interval_s: float = 0.5,
                 cancel_check_interval_s: float = 0.05, heartbeat_s: float | None = 10.0,
                 signals: JobSignals | None = None, feeds: ItemFeeds | None = None, max_attempts: int = 3,
                 queue: JobQueue | None = None, outages: Outages | None = None,
                 write_patience_s: float = WRITE_PATIENCE_S) -> None:
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
        self._max_attempts = max_attempts
        self._queue = queue  # where a job goes again after an interruption (Celery); None: the next start
        self._outages = outages or Outages(max_wait_s=300.0)
        self._patience_s = write_patience_s
        self._stopping = False
        self.executing: set[str] = set()

    def interrupt(self) -> None:
        """The process is stopping: no job starts any more; running batches stop dispatching,
        finish the items in flight and go back to ``queued`` (resumed by the next runner)."""
        self._stopping = True

    async def execute(self, job_id: str) -> None:
        if self._stopping:
            return
        at = self._clock()
        tries = 0

        def start_once(job: Job) -> Job:
            nonlocal tries
            tries += 1
            # Retried after a lost answer: the first commit may have landed.
            return job if tries > 1 and was_started_at(job, at) else start(job, at=at)

        try:
            job = await persistently(lambda: self._store.update(job_id, start_once), what="start job",
                                     patience_s=self._patience_s)
        except (IllegalTransitionError, NotFoundError):
            logger.info("job skipped: not queued", extra={"event": "job_skipped", "job_id": job_id})
            return
        self.executing.add(job_id)
        try:
            await self._execute(job)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._requeue(job)), REQUEUE_ON_CANCEL_S)
            raise
        finally:
            self.executing.discard(job_id)

    async def _execute(self, job: Job) -> None:
        job_id = job.job_id
        self._signals.changed(job_id)
        logger.info("job started", extra={"event": "job_start", "job_id": job_id, "kind": job.kind,
                                          "attempt": job.attempts})
        started = time.perf_counter()
        async with self._heartbeat(job_id):
            outcome = await self._outcome(job)
        if outcome.interrupted:
            await self._requeue(job)
            return
        fields: dict[str, Any] = {"error": outcome.error, "item_ok": outcome.item_ok}
        if outcome.body is not None:
            fields.update(result_rel=await self._put_result(job, outcome.body), result_meta=outcome.meta)
        await self._finish(job_id, outcome.status, **fields)
        logger.info("job finished", extra={"event": "job_end", "job_id": job_id,
                                           "duration_ms": int((time.perf_counter() - started) * 1000)})

    async def _outcome(self, job: Job) -> _Outcome:
        try:
            return await self._run(job)
        except DomainError as exc:
            return _Outcome(error={"code": exc.code, "message": exc.message,
                                   "retryable": bool(exc.details.get("retryable"))}, item_ok=_failed_item(job))
        except Exception:
            logger.exception("job crashed", extra={"event": "job_error", "job_id": job.job_id})
            return _Outcome(error={"code": "internal_error", "message": "internal error", "retryable": False},
                            item_ok=_failed_item(job))

    async def _put_result(self, job: Job, body: dict[str, Any]) -> str:
        """The result artifact, waiting out a storage outage; stored by an earlier attempt: kept."""
        rel = artifact_rel(ArtifactKind.JOB, job.job_id, job.created_at)
        with contextlib.suppress(ArtifactExistsError):
            await OutageGuard(self._outages).storage(lambda: self._blobs.put(rel, msgspec.json.encode(body)))
        return rel

    @contextlib.asynccontextmanager
    async def _heartbeat(self, job_id: str) -> AsyncIterator[None]:
        """Refresh ``updated_at`` while the job runs, so a sweep can tell a live job from one
        whose runner died (ADR 0052). Batches also beat through their progress reports."""
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
                return  # final (or requeued) elsewhere: nothing left to keep alive
            except DomainError as exc:  # the database hiccuped: the next beat may get through
                logger.warning("job heartbeat failed", extra={"event": "job_heartbeat_error", "job_id": job_id,
                                                              "error": exc.code})

    async def _finish(self, job_id: str, status: JobStatus, **fields: Any) -> None:
        at = self._clock()
        tries = 0

        def finish_once(job: Job) -> Job:
            nonlocal tries
            tries += 1
            # Retried after a lost answer: the first commit may have landed.
            landed = tries > 1 and job.is_terminal and job.finished_at == at
            return job if landed else finish(job, status, at=at, **fields)

        try:
            await persistently(lambda: self._store.update(job_id, finish_once), what="finish job",
                               patience_s=self._patience_s)
        except IllegalTransitionError:  # requeued by a sweep meanwhile: that attempt finishes it
            logger.warning("job already final", extra={"event": "job_finish_skipped", "job_id": job_id})
        except DomainError as exc:  # still running: the sweep takes it back and it resumes
            logger.error("job finish not recorded", extra={"event": "job_finish_failed", "job_id": job_id,
                                                            "error": exc.code})
        self._signals.changed(job_id)

    async def _requeue(self, ours: Job) -> None:
        """Put the job this executor started back in the queue (a retry after a lost answer
        finds it queued already; a run that is not ours is left alone)."""
        job_id = ours.job_id

        def requeue_ours(job: Job) -> Job:
            if job.status is JobStatus.QUEUED:
                return job
            if job.status is JobStatus.RUNNING and job.started_at != ours.started_at:
                raise IllegalTransitionError(f"job {job_id} runs elsewhere now")
            return requeue(job, at=self._clock(), handed_back=True)

        try:
            job = await persistently(lambda: self._store.update(job_id, requeue_ours), what="requeue job",
                                     patience_s=self._patience_s)
        except (IllegalTransitionError, NotFoundError):
            return
        except DomainError as exc:  # still running: the next start (or a sweep) takes it back
            logger.error("job requeue not recorded", extra={"event": "job_requeue_failed", "job_id": job_id,
                                                             "error": exc.code})
            return
        self._signals.changed(job_id)
        logger.warning("job interrupted, queued again", extra={"event": "job_requeued", "job_id": job_id,
                                                               "status": job.status.value})
        if self._queue is not None and job.status is JobStatus.QUEUED:
            try:
                await self._queue.enqueue(job_id)
            except DomainError as exc:  # the sweep hands it over later
                logger.warning("requeued job not enqueued", extra={"event": "job_enqueue_failed", "job_id": job_id,
                                                                   "error": exc.code})

    async def _run(self, job: Job) -> _Outcome:
        principal = principal_of(job)
        salvage = salvaging(job, self._max_attempts)
        if salvage:
            logger.warning("job salvaged", extra={"event": "job_salvage", "job_id": job.job_id,
                                                  "attempts": job.attempts})
        if job.kind == JobKind.EXTRACT:
            return await self._run_extract(job, principal, salvage)
        feed = self._feeds.get(job.job_id) if self._feeds is not None else None
        if feed is None and job.request.get(RECEIVING):
            job = await self._settled(job)
        plan = msgspec.convert(job.request["plan"], BatchPlan)
        outcome = await self._batches.run(plan, principal, feed=feed, progress=self._progress_sink(job.job_id),
                                          should_cancel=self._cancel_probe(job.job_id),
                                          interrupted=lambda: self._stopping, salvage=salvage)
        if outcome.interrupted:
            return _Outcome(interrupted=True)
        body = outcome.response
        meta = {k: body[k] for k in ("run_id", "artifact_rel", "item_count", "ok_count", "error_count")}
        status = JobStatus.CANCELED if outcome.canceled else JobStatus.SUCCEEDED
        error = feed.failure if feed is not None else None
        if salvage and not outcome.canceled:
            status, error = JobStatus.FAILED, {**NOT_RUN, "message": (
                f"the job was interrupted {job.attempts - 1} times; its finished items are kept, "
                "the rest were not run (rerun the run with only_failed)")}
        return _Outcome(status=status, body=body, meta=meta, error=error)

    async def _settled(self, job: Job) -> Job:
        """A job whose upload was still arriving, without the feed of that upload here: its
        complete plan if the upload ended meanwhile; otherwise the process that received it
        stopped in mid-upload (ADR 0051): the rest of the body is gone with it."""
        current = await self._store.get(job.job_id)
        if current is None or current.request.get(RECEIVING):
            raise DomainError("the service stopped while this batch's upload was arriving; finished items are kept",
                              code="stale_after_restart", retryable=True)
        return current

    async def _run_extract(self, job: Job, principal: Principal, salvage: bool) -> _Outcome:
        req = job.request
        if salvage:
            result: ExtractResult | None = await self._extractor.stored(req["request_id"], principal)
            if result is None:
                return _Outcome(error=dict(NOT_RUN), item_ok=False)
        else:
            debug = msgspec.convert(req["debug"], DebugOverrides) if req.get("debug") else None
            result = await self._extractor.run(ExtractCommand(
                task_id=req["task_id"], request_id=req["request_id"], mime_type=req.get("mime_type", "image/jpeg"),
                image_ref=req["image_ref"], debug=debug, owned=True), principal, guard=OutageGuard(self._outages))
        meta = {"request_id": result.request_id, "artifact_rel": result.artifact_rel, "ok": result.error is None,
                "error_code": result.error.code if result.error else None}
        # A cancel acknowledged meanwhile turns this into canceled inside the finishing update.
        return _Outcome(status=JobStatus.SUCCEEDED, body=extract_response(result), meta=meta,
                        item_ok=result.error is None)

    def _progress_sink(self, job_id: str):  # noqa: ANN202 - returns the batch runner's ProgressSink
        last: dict[str, Any] = {"at": 0.0, "stage": None}

        async def sink(progress: dict[str, Any]) -> None:
            now = time.monotonic()
            final = progress["stage"] == "finalizing" or progress["done"] == progress["total"]
            moved = progress["stage"] != last["stage"]
            if not final and not moved and now - last["at"] < self._progress_interval_s:
                return
            last["at"], last["stage"] = now, progress["stage"]
            try:
                await self._store.update(job_id, lambda j: report_progress(j, progress, at=self._clock()))
            except IllegalTransitionError:  # finished elsewhere: the batch ends on its own
                pass
            except DomainError as exc:  # progress is a report, never a reason to fail items
                logger.warning("progress not recorded", extra={"event": "job_progress_error", "job_id": job_id,
                                                               "error": exc.code})

        return sink

    def _cancel_probe(self, job_id: str):  # noqa: ANN202 - returns the batch runner's CancelProbe
        state = {"at": 0.0, "cancel": False}

        async def should_cancel() -> bool:
            now = time.monotonic()
            if not state["cancel"] and now - state["at"] >= self._cancel_check_interval_s:
                state["at"] = now
                try:
                    control = await self._store.control(job_id)
                except DomainError:  # the database hiccuped: ask again at the next item
                    return False
                # Not running any more (canceled, or taken back by a sweep): stop dispatching.
                state["cancel"] = (control is None or control.cancel_requested
                                   or control.status is not JobStatus.RUNNING)
            return bool(state["cancel"])

        return should_cancel
