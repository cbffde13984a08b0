"""In-process job-change signals: a long-poll wakes at the change, not at the next poll."""

from __future__ import annotations

import asyncio

from application.job_signals import JobSignals


async def test_a_waiter_wakes_when_its_job_changes_and_not_for_others() -> None:
    signals = JobSignals()
    waiter = asyncio.create_task(signals.wait("job-1", timeout_s=5))
    await asyncio.sleep(0)
    signals.changed("job-2")
    await asyncio.sleep(0.01)
    assert not waiter.done()
    signals.changed("job-1")
    for _ in range(5):  # a few loop turns, far below the 5 s timeout: woken by the change
        await asyncio.sleep(0)
    assert waiter.done() and waiter.exception() is None
    assert signals._waiters == {}  # noqa: SLF001 - nothing left registered


async def test_a_wait_without_a_change_ends_at_its_timeout_and_unregisters() -> None:
    signals = JobSignals()
    await signals.wait("job-1", timeout_s=0.01)
    assert signals._waiters == {}  # noqa: SLF001
    signals.changed("job-1")  # nobody waiting: nothing happens


async def test_every_waiter_of_a_job_wakes_and_a_cancelled_wait_cleans_up() -> None:
    signals = JobSignals()
    waiters = [asyncio.create_task(signals.wait("job-1", timeout_s=5)) for _ in range(3)]
    cancelled = asyncio.create_task(signals.wait("job-1", timeout_s=5))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    signals.changed("job-1")
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    assert signals._waiters == {}  # noqa: SLF001
