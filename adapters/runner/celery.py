"""Celery job queue (JOBS_BACKEND=celery): the API only enqueues job ids; workers execute."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from adapters.runner.celery_app import EXECUTE_JOB_TASK, JOBS_QUEUE, make_celery_app
from domain.errors import UpstreamUnavailableError


class CeleryJobQueue:
    def __init__(self, *, broker_url: str, result_backend: str | None = None, queue: str = JOBS_QUEUE,
                 workers_timeout_s: float = 1.0, workers_cache_s: float = 5.0) -> None:
        self._app = make_celery_app(broker_url, result_backend, queue=queue)
        self._queue = queue
        self._workers_timeout_s = workers_timeout_s
        self._workers_cache_s = workers_cache_s
        self._workers_seen: tuple[float, list[str]] | None = None
        self._workers_lock = asyncio.Lock()

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

    async def workers(self) -> list[str]:
        """Hostnames of the workers consuming this queue that answered a broadcast within
        ``workers_timeout_s``. Cached for ``workers_cache_s`` and fetched by one caller at a
        time, so polling readiness stays cheap for the broker and the workers."""
        async with self._workers_lock:
            now = time.monotonic()
            if self._workers_seen is not None and now - self._workers_seen[0] < self._workers_cache_s:
                return self._workers_seen[1]
            try:
                replies = await asyncio.to_thread(self._active_queues)
            except Exception as exc:
                raise UpstreamUnavailableError("the job broker is unavailable", retryable=True,
                                               details={"reason": type(exc).__name__}) from None
            seen = sorted(host for host, queues in (replies or {}).items()
                          if any(q.get("name") == self._queue for q in queues or []))
            self._workers_seen = (time.monotonic(), seen)
            return seen

    def _active_queues(self) -> dict[str, list[dict[str, Any]]] | None:
        with self._app.connection_for_write() as conn:
            # Fail fast on a dead broker (kombu would otherwise retry for seconds).
            conn.ensure_connection(max_retries=1, timeout=self._workers_timeout_s)
            inspect = self._app.control.inspect(timeout=self._workers_timeout_s, connection=conn)
            return inspect.active_queues()  # type: ignore[no-any-return]

    async def ping_workers(self) -> dict[str, Any]:
        """Readiness: not ready while no worker consumes the queue (jobs would wait forever)."""
        seen = await self.workers()
        if not seen:
            raise UpstreamUnavailableError(
                f"no Celery worker consumes queue {self._queue!r} (none answered within "
                f"{self._workers_timeout_s:g}s): start `ocr-orchestrator worker`",
                retryable=True, details={"queue": self._queue, "workers": []})
        return {"workers": seen}
