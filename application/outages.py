"""Waiting out an outage of a dependency instead of failing every remaining item (ADR 0053).

A ``Breaker`` is this process's view of one dependency (storage: the object store and the
databases; the model server). A call that fails the way an outage fails asks the breaker
whether the dependency is down; the breaker answers with the dependency's own readiness probe
(a HEAD of the bucket and a ``SELECT 1``; ``GET /models``), never by repeating someone's work:

* the probe answers: the dependency is up, the failure was this call's own — it is retried
  after a short pause, and fails for good after ``OWN_FAILURES`` such failures;
* the probe fails: the breaker opens, every caller waits, and one probe task checks again with
  exponential backoff (0.5 s doubling up to 30 s); when it answers (or a real call succeeds)
  the breaker closes and the callers go on.

An outage longer than ``max_wait_s`` (OUTAGE_MAX_WAIT_S) is given up: callers stop waiting and
each tries once, so a dependency that stays down fails the remaining work in bounded time; the
probe task keeps checking, so the breaker closes when the dependency returns.

``OutageGuard`` runs one batch's calls through the breakers and tells the batch when its items
wait (``progress.stage = waiting_for_storage | waiting_for_model``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Generic, TypeVar

from application.ports.inference import InferenceFailure, InferenceOutcome
from domain.errors import DomainError, StorageUnavailableError

logger = logging.getLogger("ocr.outages")

T = TypeVar("T")
Probe = Callable[[], Awaitable[None]]

STORAGE = "storage"
MODEL = "model"
BASE_DELAY_S = 0.5
MAX_DELAY_S = 30.0
PROBE_TIMEOUT_S = 5.0
OWN_FAILURES = 3  # attempts of a call whose failures are its own (the dependency answers its probe)
OWN_PAUSE_S = 0.2  # before retrying such a call (a blip: a dropped connection, a lock)
# Model failures that say "the server is not there or not answering", not "this request is bad".
_MODEL_OUTAGE_CODES = frozenset({"upstream_unavailable", "upstream_timeout"})
_GATEWAY_STATUSES = frozenset({None, 502, 504})


def is_model_outage(failure: InferenceFailure | None) -> bool:
    if failure is None or not failure.retryable:
        return False
    if failure.code in _MODEL_OUTAGE_CODES:
        return True
    # A dropped connection or a gateway in front of a restarting server; a plain 500 is the
    # model server failing this request.
    return failure.code == "upstream_error" and failure.http_status in _GATEWAY_STATUSES


async def _answers(probe: Probe, timeout_s: float) -> bool:
    try:
        await asyncio.wait_for(probe(), timeout_s)
    except (DomainError, OSError, TimeoutError):
        return False
    return True


class Admission(Enum):
    PASS = "pass"  # closed: call
    GIVE_UP = "give_up"  # open longer than max_wait_s: call once, a failure is final


class Breaker:
    def __init__(self, name: str, *, probe: Probe, max_wait_s: float, base_delay_s: float = BASE_DELAY_S,
                 max_delay_s: float = MAX_DELAY_S, probe_timeout_s: float = PROBE_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None) -> None:
        self.name = name
        self.max_wait_s = max_wait_s
        self._probe = probe
        self._base = base_delay_s
        self._cap = max_delay_s
        self._probe_timeout_s = probe_timeout_s
        self._clock = clock
        self._rng = rng or random.Random()
        self._opened_at: float | None = None
        self._checking: asyncio.Future[bool] | None = None
        self._prober: asyncio.Task[None] | None = None
        self._waiters: set[asyncio.Future[None]] = set()

    @property
    def open(self) -> bool:
        return self._opened_at is not None

    @property
    def exhausted(self) -> bool:
        return self._opened_at is not None and self._clock() - self._opened_at >= self.max_wait_s

    async def admit(self) -> Admission:
        """Go ahead (closed), or wait until the dependency answers; ``GIVE_UP`` once the outage
        has lasted ``max_wait_s``."""
        while self._opened_at is not None:
            left = self._opened_at + self.max_wait_s - self._clock()
            if left <= 0:
                return Admission.GIVE_UP
            await self._sleep(left)
        return Admission.PASS

    async def is_down(self) -> bool:
        """After a failure that looks like an outage: is the dependency down? Open already, or
        its probe fails now (one probe at a time answers every caller that asks meanwhile)."""
        if self._opened_at is not None:
            return True
        if self._checking is None or self._checking.done():
            self._checking = asyncio.ensure_future(_answers(self._probe, self._probe_timeout_s))
        up = await asyncio.shield(self._checking)
        if not up:
            self._trip()
        return not up

    def succeeded(self) -> None:
        """A real call went through: whatever the probe last said, the dependency answers."""
        if self._opened_at is not None:
            self._close()

    def _trip(self) -> None:
        if self._opened_at is not None:
            return
        self._opened_at = self._clock()
        logger.warning("dependency outage: waiting", extra={
            "event": "outage_start", "dependency": self.name, "max_wait_s": self.max_wait_s})
        if self._prober is None or self._prober.done():
            self._prober = asyncio.get_running_loop().create_task(self._probe_until_up(),
                                                                  name=f"outage-probe-{self.name}")

    def _close(self) -> None:
        assert self._opened_at is not None
        logger.warning("dependency is back", extra={
            "event": "outage_end", "dependency": self.name, "outage_s": round(self._clock() - self._opened_at, 3)})
        self._opened_at = None
        self._wake()

    async def _probe_until_up(self) -> None:
        failed = 0
        while self._opened_at is not None:
            failed += 1
            ceiling = min(self._cap, self._base * 2 ** (failed - 1))
            await asyncio.sleep(ceiling / 2 + self._rng.uniform(0, ceiling / 2))
            # Closed meanwhile by a real call's success: nothing left to do.
            up = self._opened_at is not None and await _answers(self._probe, self._probe_timeout_s)
            if up and self._opened_at is not None:
                self._close()

    async def _sleep(self, seconds: float) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, max(seconds, 0.0))
        finally:
            self._waiters.discard(waiter)

    def _wake(self) -> None:
        for waiter in list(self._waiters):
            if not waiter.done():
                with contextlib.suppress(RuntimeError):  # its loop is gone
                    waiter.set_result(None)


async def _nothing() -> None:
    return None


class Outages:
    """The process-wide breakers, one per dependency, each with its readiness probe."""

    def __init__(self, *, max_wait_s: float, storage_probe: Probe = _nothing, model_probe: Probe = _nothing,
                 base_delay_s: float = BASE_DELAY_S, max_delay_s: float = MAX_DELAY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.storage = Breaker(STORAGE, probe=storage_probe, max_wait_s=max_wait_s, base_delay_s=base_delay_s,
                               max_delay_s=max_delay_s, clock=clock)
        self.model = Breaker(MODEL, probe=model_probe, max_wait_s=max_wait_s, base_delay_s=base_delay_s,
                             max_delay_s=max_delay_s, clock=clock)


class _Answer(Generic[T]):
    """One call's result or error, and whether it failed the way an outage fails."""

    __slots__ = ("error", "outage", "value")

    def __init__(self, *, value: T | None = None, error: BaseException | None = None, outage: bool = False) -> None:
        self.value, self.error, self.outage = value, error, outage

    def unwrap(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


StageListener = Callable[[str | None], None]


class OutageGuard:
    """One batch's view: its calls wait out outages, and it knows whether any of them waits."""

    def __init__(self, outages: Outages, on_stage: StageListener | None = None,
                 own_pause_s: float = OWN_PAUSE_S) -> None:
        self._outages = outages
        self._on_stage = on_stage
        self._own_pause_s = own_pause_s
        self._waiting = {STORAGE: 0, MODEL: 0}

    @property
    def stage(self) -> str | None:
        """``waiting_for_storage`` / ``waiting_for_model`` while a call waits, else None."""
        for name in (STORAGE, MODEL):
            if self._waiting[name]:
                return f"waiting_for_{name}"
        return None

    async def storage(self, op: Callable[[], Awaitable[T]]) -> T:
        async def attempt() -> _Answer[T]:
            try:
                return _Answer(value=await op())
            except StorageUnavailableError as exc:
                return _Answer(error=exc, outage=bool(exc.details.get("retryable")))
            except DomainError as exc:  # not found, exists, invalid: the store is there
                return _Answer(error=exc)

        return (await self._through(self._outages.storage, attempt)).unwrap()

    async def model(self, call: Callable[[], Awaitable[InferenceOutcome]]) -> InferenceOutcome:
        async def attempt() -> _Answer[InferenceOutcome]:
            outcome = await call()
            return _Answer(value=outcome, outage=is_model_outage(outcome.failure))

        return (await self._through(self._outages.model, attempt)).unwrap()

    async def _through(self, breaker: Breaker, attempt: Callable[[], Awaitable[_Answer[T]]]) -> _Answer[T]:
        own_failures = 0
        while True:
            admission = await self._admit(breaker)
            answer = await attempt()
            if not answer.outage:
                breaker.succeeded()
                return answer
            if admission is Admission.GIVE_UP:
                return answer
            if await breaker.is_down():
                continue  # wait for it (the next admit), however often this call was retried
            own_failures += 1  # the dependency answers its probe: this call's own failure
            logger.warning("call failed while its dependency answers", extra={
                "event": "dependency_call_failed", "dependency": breaker.name, "failures": own_failures,
                "final": own_failures >= OWN_FAILURES})
            if own_failures >= OWN_FAILURES:
                return answer
            await asyncio.sleep(self._own_pause_s * own_failures)

    async def _admit(self, breaker: Breaker) -> Admission:
        if not breaker.open:
            return Admission.PASS
        self._waiting[breaker.name] += 1
        self._changed()
        try:
            return await breaker.admit()
        finally:
            self._waiting[breaker.name] -= 1
            self._changed()

    def _changed(self) -> None:
        if self._on_stage is not None:
            self._on_stage(self.stage)
