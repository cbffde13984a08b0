"""In-process asyncio job runner (JOBS_BACKEND=local): a queue and JOBS_MAX_CONCURRENCY workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger("ocr.jobs")


class LocalJobRunner:
    def __init__(self, execute: Callable[[str], Awaitable[None]], *, concurrency: int) -> None:
        self._execute = execute
        self._concurrency = concurrency
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []

    async def enqueue(self, job_id: str) -> None:
        self._queue.put_nowait(job_id)

    async def ping(self) -> None:
        return None

    @property
    def running(self) -> bool:
        return bool(self._workers)

    async def start(self) -> None:
        if not self._workers:
            self._workers = [asyncio.create_task(self._work(i), name=f"job-worker-{i}")
                             for i in range(self._concurrency)]

    async def stop(self) -> None:
        """Workers stop at once; a job cut short stays ``running`` and the next start marks it stale."""
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []

    async def _work(self, index: int) -> None:
        while True:
            job_id = await self._queue.get()
            try:
                await self._execute(job_id)
            except Exception:  # the executor records failures itself; never let a worker die
                logger.exception("job runner error", extra={"event": "job_runner_error", "job_id": job_id})
            finally:
                self._queue.task_done()
