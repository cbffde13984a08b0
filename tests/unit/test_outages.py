"""Outages pause a batch (ADR 0053): the breaker asks the dependency's probe, callers wait while
it is down, a call whose failures are its own gives up, an outage too long is given up."""

from __future__ import annotations

import asyncio
import time

import pytest

from application.outages import OWN_FAILURES, OutageGuard, Outages, is_model_outage
from application.ports.inference import InferenceFailure, InferenceOutcome
from domain.errors import NotFoundError, StorageUnavailableError


class Dependency:
    """Down from ``down_at`` until ``up_at`` (monotonic seconds); counts calls and probes."""

    def __init__(self, down_for_s: float = 0.0, *, starts_in_s: float = 0.0) -> None:
        now = time.monotonic()
        self.down_at = now + starts_in_s
        self.up_at = self.down_at + down_for_s
        self.calls = 0
        self.probes = 0

    @property
    def down(self) -> bool:
        return self.down_at <= time.monotonic() < self.up_at

    async def probe(self) -> None:
        self.probes += 1
        if self.down:
            raise StorageUnavailableError("unreachable", retryable=True)

    async def store(self, seconds: float = 0.0) -> str:
        self.calls += 1
        await asyncio.sleep(seconds)
        if self.down:
            raise StorageUnavailableError("object storage unavailable", retryable=True)
        return "stored"


def outages(dep: Dependency, max_wait_s: float = 5.0) -> Outages:
    return Outages(max_wait_s=max_wait_s, storage_probe=dep.probe, model_probe=dep.probe,
                   base_delay_s=0.02, max_delay_s=0.08)


def guard(shared: Outages, **kwargs: object) -> OutageGuard:
    return OutageGuard(shared, own_pause_s=0.01, **kwargs)  # type: ignore[arg-type]


def failure(code: str, status: int | None = None, retryable: bool = True) -> InferenceFailure:
    return InferenceFailure(code=code, message=code, retryable=retryable, http_status=status)


def outcome(fail: InferenceFailure | None) -> InferenceOutcome:
    return InferenceOutcome(model_id="m", text=None if fail else "{}", failure=fail, attempts=1)


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
def test_what_looks_like_a_model_outage(fail: InferenceFailure | None, outage: bool) -> None:
    assert is_model_outage(fail) is outage


async def test_a_short_outage_is_waited_out_by_every_caller() -> None:
    dep = Dependency(0.3)
    shared = outages(dep)
    results = await asyncio.gather(*(guard(shared).storage(dep.store) for _ in range(8)))
    assert results == ["stored"] * 8
    assert not shared.storage.open
    # Waiting callers do not hammer the store: each called it about once before and once after.
    assert dep.calls <= 8 * 3


async def test_calls_in_flight_when_an_outage_begins_wait_for_its_end() -> None:
    dep = Dependency(0.4, starts_in_s=0.1)
    shared = outages(dep, max_wait_s=30)

    async def steady() -> None:  # others succeed until the outage begins
        while time.monotonic() < dep.down_at:
            await guard(shared).storage(lambda: dep.store(0.01))

    results = await asyncio.gather(*(guard(shared).storage(lambda: dep.store(0.15)) for _ in range(6)), steady())
    assert results[:6] == ["stored"] * 6


async def test_the_stage_says_what_the_batch_waits_for() -> None:
    dep = Dependency(0.15)
    stages: list[str | None] = []
    g = guard(outages(dep), on_stage=stages.append)
    assert await g.storage(dep.store) == "stored"
    assert "waiting_for_storage" in stages and stages[-1] is None and g.stage is None


async def test_one_probe_answers_everyone_who_asks_at_once() -> None:
    dep = Dependency(60)
    shared = outages(dep)
    assert await asyncio.gather(*(shared.storage.is_down() for _ in range(10))) == [True] * 10
    assert dep.probes == 1 and shared.storage.open


async def test_an_outage_longer_than_the_wait_fails_with_its_error_then_calls_try_once() -> None:
    dep = Dependency(60)
    shared = outages(dep, max_wait_s=0.2)
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError):
        await guard(shared).storage(dep.store)
    assert 0.2 <= time.monotonic() - started < 1.5 and shared.storage.exhausted
    calls = dep.calls
    with pytest.raises(StorageUnavailableError):  # given up: one attempt, no waiting
        await guard(shared).storage(dep.store)
    assert dep.calls == calls + 1
    dep.up_at = time.monotonic()  # it comes back: the probe task notices and closes the breaker
    for _ in range(100):
        if not shared.storage.open:
            break
        await asyncio.sleep(0.02)
    assert not shared.storage.open
    assert await guard(shared).storage(dep.store) == "stored"


async def test_a_failure_the_probe_contradicts_is_the_calls_own_and_gives_up_soon() -> None:
    dep = Dependency()  # the store answers its probe
    calls = 0

    async def broken() -> str:
        nonlocal calls
        calls += 1
        raise StorageUnavailableError("this object cannot be written", retryable=True)

    started = time.monotonic()
    with pytest.raises(StorageUnavailableError):
        await guard(outages(dep)).storage(broken)
    assert calls == OWN_FAILURES and time.monotonic() - started < 1
    assert dep.probes == OWN_FAILURES  # each failure asked: the store answered every time


async def test_errors_that_are_answers_pass_through_and_never_ask_the_probe() -> None:
    dep = Dependency()
    shared = outages(dep)

    async def missing() -> None:
        raise NotFoundError("no such blob")

    async def refused() -> None:
        raise StorageUnavailableError("permission denied", retryable=False)

    with pytest.raises(NotFoundError):
        await guard(shared).storage(missing)
    with pytest.raises(StorageUnavailableError):  # not retryable: not an outage, never waited on
        await guard(shared).storage(refused)
    assert dep.probes == 0 and not shared.storage.open


async def test_a_model_outage_is_waited_out_and_the_outcome_is_the_success() -> None:
    dep = Dependency(0.2)
    shared = outages(dep)

    async def call() -> InferenceOutcome:
        return outcome(failure("upstream_unavailable") if dep.down else None)

    result = await guard(shared).model(call)
    assert result.failure is None and dep.probes >= 2


async def test_a_request_the_model_server_keeps_failing_ends_with_its_failure() -> None:
    dep = Dependency()  # GET /models answers
    calls = 0

    async def call() -> InferenceOutcome:
        nonlocal calls
        calls += 1
        return outcome(failure("upstream_unavailable", 503))

    result = await guard(outages(dep)).model(call)
    assert result.failure is not None and result.failure.code == "upstream_unavailable"
    assert calls == OWN_FAILURES
