"""Outages pause a batch (ADR 0053): the breaker's states, the guard's waiting and giving up."""

from __future__ import annotations

import asyncio
import time

import pytest

from application.outages import Admission, Breaker, OutageGuard, Outages, is_model_outage
from application.ports.inference import InferenceFailure, InferenceOutcome
from domain.errors import NotFoundError, StorageUnavailableError


def outages(max_wait_s: float = 5.0) -> Outages:
    return Outages(max_wait_s=max_wait_s, base_delay_s=0.02, max_delay_s=0.08)


def down(retryable: bool = True) -> StorageUnavailableError:
    return StorageUnavailableError("object storage unavailable", retryable=retryable)


class Flaky:
    """A dependency that is down until ``up_at`` (monotonic seconds), counting calls."""

    def __init__(self, down_for_s: float) -> None:
        self.up_at = time.monotonic() + down_for_s
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if time.monotonic() < self.up_at:
            raise down()
        return "stored"


def failure(code: str, status: int | None = None, retryable: bool = True) -> InferenceFailure:
    return InferenceFailure(code=code, message=code, retryable=retryable, http_status=status)


@pytest.mark.parametrize(("fail", "outage"), [
    (None, False),
    (failure("upstream_unavailable", 503), True),
    (failure("upstream_unavailable"), True),
    (failure("upstream_timeout"), True),
    (failure("upstream_error"), True),  # a dropped connection
    (failure("upstream_error", 502), True),
    (failure("upstream_error", 504), True),
    (failure("upstream_error", 500), False),  # the server failed this request
    (failure("upstream_error", 400, retryable=False), False),
    (failure("context_overflow", 400, retryable=False), False),
])
def test_what_a_model_outage_is(fail: InferenceFailure | None, outage: bool) -> None:
    assert is_model_outage(fail) is outage


async def test_a_short_storage_outage_is_waited_out_by_every_caller() -> None:
    guard = OutageGuard(outages())
    flaky = Flaky(0.3)
    results = await asyncio.gather(*(guard.storage(flaky) for _ in range(8)))
    assert results == ["stored"] * 8
    # While it was down, one caller at a time probed: far fewer calls than 8 callers polling.
    assert flaky.calls < 8 + 20


async def test_the_stage_says_what_the_batch_waits_for() -> None:
    stages: list[str | None] = []
    guard = OutageGuard(outages(), on_stage=stages.append)
    await guard.storage(Flaky(0.15))
    assert "waiting_for_storage" in stages and stages[-1] is None and guard.stage is None


async def test_an_outage_longer_than_the_wait_fails_with_its_error_and_later_calls_try_once() -> None:
    shared = outages(max_wait_s=0.2)
    guard = OutageGuard(shared)
    flaky = Flaky(60)
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError):
        await guard.storage(flaky)
    assert 0.2 <= time.monotonic() - started < 1.5
    assert shared.storage.exhausted
    calls = flaky.calls
    with pytest.raises(StorageUnavailableError):  # given up: one attempt, no waiting
        await OutageGuard(shared).storage(flaky)
    assert flaky.calls == calls + 1


async def test_a_success_closes_the_breaker_after_it_was_given_up() -> None:
    shared = outages(max_wait_s=0.05)
    with pytest.raises(StorageUnavailableError):
        await OutageGuard(shared).storage(Flaky(60))

    async def works() -> str:
        return "ok"

    assert await OutageGuard(shared).storage(works) == "ok"
    assert not shared.storage.open


async def test_errors_that_are_answers_pass_through_and_count_as_the_store_being_there() -> None:
    shared = outages()
    shared.storage.failed(Admission.PASS)
    await asyncio.sleep(0.05)

    async def missing() -> None:
        raise NotFoundError("no such blob")

    with pytest.raises(NotFoundError):
        await OutageGuard(shared).storage(missing)
    assert not shared.storage.open

    async def broken() -> None:
        raise down(retryable=False)

    with pytest.raises(StorageUnavailableError):  # not retryable: not an outage, never waited on
        await OutageGuard(shared).storage(broken)
    assert not shared.storage.open


def outcome(fail: InferenceFailure | None) -> InferenceOutcome:
    return InferenceOutcome(model_id="m", text=None if fail else "{}", failure=fail, attempts=1)


async def test_a_model_outage_is_retried_and_the_final_outcome_is_the_success() -> None:
    answers = [outcome(failure("upstream_unavailable", 503))] * 3 + [outcome(None)]
    calls = iter(answers)

    async def call() -> InferenceOutcome:
        return next(calls)

    assert (await OutageGuard(outages()).model(call)).failure is None


async def test_a_call_failing_while_others_succeed_gives_up_as_its_own_failure() -> None:
    shared = outages(max_wait_s=30)
    bad_calls = 0

    async def bad() -> InferenceOutcome:
        nonlocal bad_calls
        bad_calls += 1
        await asyncio.sleep(0.03)  # others' calls complete while this one runs
        return outcome(failure("upstream_unavailable", 503))

    async def good() -> InferenceOutcome:
        await asyncio.sleep(0.01)
        return outcome(None)

    async def others() -> None:
        for _ in range(30):
            await OutageGuard(shared).model(good)

    started = time.monotonic()
    result, _ = await asyncio.gather(OutageGuard(shared).model(bad), others())
    assert result.failure is not None and result.failure.code == "upstream_unavailable"
    assert bad_calls <= 4 and time.monotonic() - started < 5


async def test_one_probe_at_a_time() -> None:
    breaker = Breaker("storage", max_wait_s=5, base_delay_s=0.02, max_delay_s=0.02)
    breaker.failed(Admission.PASS)
    admissions = await asyncio.wait_for(asyncio.gather(*(_admit_within(breaker, 0.2) for _ in range(5))), 2)
    assert admissions.count(Admission.PROBE) == 1 and admissions.count(None) == 4
    breaker.succeeded(Admission.PROBE)
    assert not breaker.open


async def _admit_within(breaker: Breaker, seconds: float) -> Admission | None:
    try:
        return await asyncio.wait_for(breaker.admit(), seconds)
    except TimeoutError:
        return None


def test_abandoned_probe_lets_another_caller_probe() -> None:
    breaker = Breaker("model", max_wait_s=5, base_delay_s=0.0, max_delay_s=0.0)
    breaker.failed(Admission.PASS)

    async def run() -> list[Admission]:
        first = await breaker.admit()
        breaker.abandon(first)
        second = await asyncio.wait_for(breaker.admit(), 1)
        return [first, second]

    assert asyncio.run(run()) == [Admission.PROBE, Admission.PROBE]




async def test_calls_in_flight_when_an_outage_begins_wait_for_its_end() -> None:
    """Successes before the outage (others' calls while these were in flight) are not signs
    that these calls are the problem: every one of them waits and then succeeds."""
    shared = outages(max_wait_s=30)
    outage_at = time.monotonic() + 0.1
    up_at = outage_at + 0.6

    async def store(delay: float) -> str:
        await asyncio.sleep(delay)
        if outage_at <= time.monotonic() < up_at:
            raise down()
        return "stored"

    async def steady() -> None:  # others succeeding until the outage
        while time.monotonic() < outage_at:
            await OutageGuard(shared).storage(lambda: store(0.01))

    # Long calls that start before the outage and end inside it.
    results = await asyncio.gather(*(OutageGuard(shared).storage(lambda: store(0.15)) for _ in range(6)), steady())
    assert results[:6] == ["stored"] * 6
