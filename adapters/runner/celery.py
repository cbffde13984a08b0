"""Celery job queue (JOBS_BACKEND=celery): the API only enqueues job ids; workers execute."""

from __future__ import annotations

import asyncio

from adapters.runner.celery_app import EXECUTE_JOB_TASK, JOBS_QUEUE, make_celery_app
from domain.errors import UpstreamUnavailableError


class CeleryJobQueue:
    def __init__(self, *, broker_url: str, result_backend: str | None = None, queue: str = JOBS_QUEUE) -> None:
        self._app = make_celery_app(broker_url, result_backend, queue=queue)

    async def enqueue(self, job_id: str) -> None:
        try:
            await asyncio.to_thread(self._app.send_task, EXECUTE_JOB_TASK, args=[job_id])
        except Exception as exc:  # kombu raises many transport-specific errors
            raise UpstreamUnavailableError("the job broker is unavailable", retryable=True,
                                           details={"reason": type(exc).__name__}) from None

    async def ping(self) -> None:
        def check() -> None:
            with self._app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)

        try:
            await asyncio.to_thread(check)
        except Exception as exc:
            raise UpstreamUnavailableError("the job broker is unavailable", retryable=True,
                                           details={"reason": type(exc).__name__}) from None
