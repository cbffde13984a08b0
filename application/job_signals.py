"""In-process "this job changed" signals, so a long-poll in the process that runs the job
(the local runner) answers at once instead of at its next store poll. Waiters in other
processes (Celery workers run the jobs) still poll the store; a signal only shortens a wait."""

from __future__ import annotations

import asyncio


class JobSignals:
    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    def changed(self, job_id: str) -> None:
        for waiter in self._waiters.pop(job_id, ()):
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, job_id: str, timeout_s: float) -> None:
        """Return when ``changed(job_id)`` is called or after ``timeout_s``, whichever is first."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, set()).add(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout_s)
        except TimeoutError:
            pass
        finally:
            waiting = self._waiters.get(job_id)
            if waiting is not None:
                waiting.discard(waiter)
                if not waiting:
                    del self._waiters[job_id]
