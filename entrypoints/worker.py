"""``ocr-orchestrator worker``: the Celery worker executing jobs (SPEC §7, §11; ADR 0050).

The process owns ONE asyncio event loop, run in a dedicated thread for the worker's life.
Celery's pool threads hand each job to it and block on the result, so the SQL engine, the
vLLM HTTP client and the S3 client are opened once and reused by every job (they are bound
to the loop that opened them). The same loop sweeps: running jobs whose heartbeat stopped go
back to the queue, and so do queued jobs whose message the broker lost (ADR 0052). On SIGTERM
the running batches stop dispatching, finish their items in flight and go back to the queue,
so a deploy waits for seconds, not for whole batches.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from datetime import timedelta
from typing import Any, TypeVar

from application.job_recovery import sweep_forever
from entrypoints.container import (
    build_container,
    celery_job_worker,
    close_services,
    open_worker_services,
    sweep_interval_s,
)
from entrypoints.logs import configure_logging, register_secret
from entrypoints.runtime import tune_gc
from entrypoints.settings import Settings, SettingsError

logger = logging.getLogger("ocr.worker")

T = TypeVar("T")
CLOSE_TIMEOUT_S = 30


class EventLoopThread:
    """An event loop running in its own thread; coroutines are submitted from other threads."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="job-loop", daemon=True)

    def start(self) -> EventLoopThread:
        self._thread.start()
        return self

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and block the calling thread until it is done."""
        return self.submit(coro).result(timeout)

    def stop(self) -> None:
        self.run(self._cancel_pending(), CLOSE_TIMEOUT_S)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(CLOSE_TIMEOUT_S)
        self.loop.close()

    async def _cancel_pending(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.loop.shutdown_asyncgens()


def run_worker(settings: Settings) -> int:
    if settings.jobs_backend != "celery":
        raise SettingsError("the worker needs JOBS_BACKEND=celery (the API enqueues to Celery only then)")
    configure_logging(settings.log_level, settings.log_format)
    logging.captureWarnings(True)  # Celery's startup warnings become JSON lines too
    for secret in (settings.vllm_api_key, settings.openai_api_key, settings.openai_admin_key,
                   settings.aws_secret_access_key, settings.api_key_pepper):
        register_secret(secret)
    container = build_container(settings)
    jobs_loop = EventLoopThread().start()
    sweeper: Future[None] | None = None
    try:
        store, executor, queue = jobs_loop.run(open_worker_services(container))
        stale_after = timedelta(seconds=settings.jobs_stale_after_s)
        sweeper = jobs_loop.submit(sweep_forever(
            store, queue, stale_after=stale_after, every_s=sweep_interval_s(settings),
            busy=lambda: executor.executing, waiting=lambda _: False, lost_after=stale_after))

        def execute(job_id: str) -> None:
            jobs_loop.run(executor.execute(job_id))

        def interrupt() -> None:
            jobs_loop.loop.call_soon_threadsafe(executor.interrupt)

        worker = celery_job_worker(settings, execute, on_shutdown=interrupt)
        tune_gc()
        logger.info("worker starting", extra={
            "event": "worker_start", "worker": worker.hostname, "queue": settings.celery_queue,
            "concurrency": settings.jobs_max_concurrency, "stale_after_s": settings.jobs_stale_after_s,
            "heartbeat_s": settings.jobs_heartbeat_s})
        code = worker.run()
    finally:
        if sweeper is not None:
            sweeper.cancel()
        try:
            jobs_loop.run(close_services(container), CLOSE_TIMEOUT_S)
        finally:
            jobs_loop.stop()
    logger.info("worker stopped", extra={"event": "worker_stop", "exit_code": code})
    return code
