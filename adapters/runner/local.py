"""In-process asyncio job runner (JOBS_BACKEND=local): a queue and JOBS_MAX_CONCURRENCY workers.

On ``stop`` (SIGTERM, every deploy) running jobs are asked to stop dispatching, finish the
items in flight and go back to ``queued`` (ADR 0052); after ``drain_s`` what still runs is
cancelled, and the next start resumes it either way. A sweep runs alongside the workers:
it takes back running jobs whose heartbeat stopped and hands over queued jobs that are in
no queue (``sweep``, given by the composition root).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

logger = logging.getLogger("ocr.jobs")

DRAIN_S = 10.0


class LocalJobRunner:
    def __init__(self, execute: Callable[[str], Awaitable[None]], *, concurrency: int,
                 interrupt: Callable[[], None] | None = None, drain_s: float = DRAIN_S) -> None:
        self._execute = execute
        self._concurrency = concurrency
        self._interrupt = interrupt
        self._drain_s = drain_s
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._waiting: set[str] = set()  # in the queue
        self._held: set[str] = set()  # in the queue or taken by a worker
        self._workers: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False

    async def enqueue(self, job_id: str) -> None:
        if job_id in self._waiting:  # already waiting: once is enough
            return
        self._waiting.add(job_id)
        self._held.add(job_id)
        self._queue.put_nowait(job_id)

    def waiting(self, job_id: str) -> bool:
        """Does this runner hold the job (queued here, or taken by a worker)?"""
        return job_id in self._held

    async def ping(self) -> None:
        return None

    @property
    def running(self) -> bool:
        return bool(self._workers)

    async def start(self, sweep: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        if not self._workers:
            self._stopping = False
            self._workers = [asyncio.create_task(self._work(i), name=f"job-worker-{i}")
                             for i in range(self._concurrency)]
            if sweep is not None:
                self._sweeper = asyncio.create_task(sweep(), name="job-sweeper")

    async def stop(self) -> None:
        """Running jobs drain and go back to ``queued`` (up to ``drain_s``); then the workers stop."""
        self._stopping = True
        if self._interrupt is not None:
            self._interrupt()
        if self._sweeper is not None:
            self._sweeper.cancel()
        idle = [t for t in self._workers if t not in self._busy]
        for task in idle:
            task.cancel()
        busy = [t for t in self._workers if t in self._busy]
        if busy:
            _, late = await asyncio.wait(busy, timeout=self._drain_s)
            for task in late:
                logger.warning("job cut short at shutdown", extra={"event": "job_drain_timeout"})
                task.cancel()
        for task in [*self._workers, *([self._sweeper] if self._sweeper else [])]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers, self._busy, self._sweeper = [], set(), None

    async def _work(self, index: int) -> None:
        me = asyncio.current_task()
        assert me is not None
        while not self._stopping:
            job_id = await self._queue.get()
            self._waiting.discard(job_id)
            if self._stopping:
                self._held.discard(job_id)
                break
            self._busy.add(me)
            try:
                await self._execute(job_id)
            except Exception:  # the executor records failures itself; never let a worker die
                logger.exception("job runner error", extra={"event": "job_runner_error", "job_id": job_id})
            finally:
                self._busy.discard(me)
                if job_id not in self._waiting:  # not enqueued again meanwhile
                    self._held.discard(job_id)
                self._queue.task_done()
