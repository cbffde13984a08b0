"""The Celery consumer behind ``ocr-orchestrator worker`` (ADR 0050).

A threads pool of ``concurrency`` threads; each task calls the blocking ``execute(job_id)`` the
entrypoint hands in (which runs the async use case on the worker's one event loop). Celery
leaves logging alone: the process logs JSON lines like the API.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from celery import Celery, signals
from celery.apps.worker import Worker, install_worker_int_handler, install_worker_term_handler

from adapters.runner.celery_app import EXECUTE_JOB_TASK, make_celery_app

logger = logging.getLogger("ocr.worker")

MAX_RETRIES = 8  # ~4 minutes of backoff while the job store is unreachable


def _keep_process_logging(**_: Any) -> None:
    """Any receiver of ``setup_logging`` stops Celery from configuring logging itself."""


class _JsonLinesWorker(Worker):
    def install_platform_tweaks(self, worker: Any) -> None:
        super().install_platform_tweaks(worker)
        # The stock handlers print "worker: Warm shutdown" as plain text on stdout.
        install_worker_term_handler(worker, verbose=False)
        install_worker_int_handler(worker, verbose=False)


def build_worker_app(*, broker_url: str, result_backend: str | None, queue: str,
                     execute: Callable[[str], None]) -> Celery:
    app = make_celery_app(broker_url, result_backend, queue=queue)

    @app.task(name=EXECUTE_JOB_TASK, bind=True, ignore_result=True, max_retries=MAX_RETRIES)
    def execute_job(task: Any, job_id: str) -> None:
        try:
            execute(job_id)
        except Exception as exc:
            # Only the job store failing at start or finish gets here (the executor records every
            # other failure in the job). A retry is safe: execution skips a job not queued.
            logger.warning("job execution failed; retrying", extra={
                "event": "job_retry", "job_id": job_id, "error": type(exc).__name__,
                "retry": task.request.retries + 1})
            raise task.retry(exc=exc, countdown=min(60, 2 ** task.request.retries)) from None

    return app


class CeleryJobWorker:
    def __init__(self, *, broker_url: str, result_backend: str | None, queue: str, concurrency: int,
                 log_level: str, execute: Callable[[str], None], on_shutdown: Callable[[], None] | None = None) -> None:
        self._on_shutdown = on_shutdown
        self._app = build_worker_app(broker_url=broker_url, result_backend=result_backend, queue=queue,
                                     execute=execute)
        self._queue = queue
        self._concurrency = concurrency
        self._log_level = log_level
        self.hostname = f"ocr-worker-{os.getpid()}@{socket.gethostname()}"

    def run(self) -> int:
        """Consume until SIGTERM/SIGINT (warm shutdown: ``on_shutdown`` asks running jobs to
        stop at their next item and go back to the queue; the tasks then return); the exit code."""
        signals.setup_logging.connect(_keep_process_logging, weak=False)
        stopping = _on_shutdown(self._on_shutdown)
        signals.worker_shutting_down.connect(stopping, weak=False)
        worker = _JsonLinesWorker(
            app=self._app, hostname=self.hostname, pool_cls="threads", concurrency=self._concurrency,
            queues=[self._queue], loglevel=self._log_level.upper(), quiet=True,
            without_gossip=True, without_mingle=True, without_heartbeat=True,
        )
        ready = _log_ready(self._queue, self._concurrency)
        signals.worker_ready.connect(ready, weak=False)
        try:
            worker.start()
        finally:
            signals.worker_ready.disconnect(ready)
            signals.worker_shutting_down.disconnect(stopping)
        return worker.exitcode or 0


def _on_shutdown(callback: Callable[[], None] | None) -> Callable[..., None]:
    def shutting_down(**_: Any) -> None:
        logger.info("worker stopping: interrupting running jobs", extra={"event": "worker_stopping"})
        if callback is not None:
            callback()

    return shutting_down


def _log_ready(queue: str, concurrency: int) -> Callable[..., None]:
    def ready(**_: Any) -> None:
        logger.info("worker consuming", extra={"event": "worker_ready", "queue": queue,
                                                "concurrency": concurrency})

    return ready
