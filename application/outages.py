"""Waiting out an outage of a dependency instead of failing every remaining item (ADR 0053).

A ``Breaker`` is this process's view of one dependency (the object store and databases, or
the model server): closed while calls go through, open from the first failure of an outage.
While it is open, callers wait; one at a time probes the dependency after an exponential
backoff (0.5 s doubling up to 30 s), and the first success closes it for everyone. An outage
that lasts longer than ``max_wait_s`` (OUTAGE_MAX_WAIT_S) is given up: callers stop waiting
and each tries once, so a dependency that stays down fails the remaining work in bounded time.

``OutageGuard`` runs one batch's calls through the breakers and tells the batch when its
items are waiting (``progress.stage = waiting_for_storage | waiting_for_model``). A call that
keeps failing while the dependency serves others is the call's own problem, not an outage:
it gives up after ``OWN_FAILURES`` such failures.
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

STORAGE = "storage"
MODEL = "model"
BASE_DELAY_S = 0.5
MAX_DELAY_S = 30.0
OWN_FAILURES = 2
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


class Admission(Enum):
    PASS = "pass"  # closed: call
    PROBE = "probe"  # open: this caller tests whether the dependency is back
    GIVE_UP = "give_up"  # open longer than max_wait_s: call once, a failure is final


class Breaker:
    def __init__(self, name: str, *, max_wait_s: float, base_delay_s: float = BASE_DELAY_S,
                 max_delay_s: float = MAX_DELAY_S, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self.name = name
        self.max_wait_s = max_wait_s
        self._base = base_delay_s
        self._cap = max_delay_s
        self._clock = clock
        self._rng = rng or random.Random()
        self._opened_at: float | None = None
        self._failed_probes = 0
        self._next_probe_at = 0.0
        self._probing = False
        self.successes = 0  # grows with every success: lets a caller see the dependency served others
        self._waiters: set[asyncio.Future[None]] = set()

    @property
    def open(self) -> bool:
        return self._opened_at is not None

    @property
    def exhausted(self) -> bool:
        return self._opened_at is not None and self._clock() - self._opened_at >= self.max_wait_s

    async def admit(self) -> Admission:
        while True:
            if self._opened_at is None:
                return Admission.PASS
            now = self._clock()
            left = self._opened_at + self.max_wait_s - now
            if left <= 0:
                return Admission.GIVE_UP
            if not self._probing and now >= self._next_probe_at:
                self._probing = True
                return Admission.PROBE
            until = left if self._probing else min(left, self._next_probe_at - now)
            await self._sleep(until)

    def succeeded(self, admission: Admission) -> None:
        self.successes += 1
        if admission is Admission.PROBE:
            self._probing = False
        if self._opened_at is not None:
            logger.warning("dependency is back", extra={
                "event": "outage_end", "dependency": self.name,
                "outage_s": round(self._clock() - self._opened_at, 3)})
            self._opened_at = None
            self._failed_probes = 0
        self._wake()

    def failed(self, admission: Admission) -> None:
        now = self._clock()
        if self._opened_at is None:
            self._opened_at = now
            self._failed_probes = 0
            self._next_probe_at = now + self._delay(1)
            logger.warning("dependency outage: waiting", extra={
                "event": "outage_start", "dependency": self.name, "max_wait_s": self.max_wait_s})
        if admission is Admission.PROBE:
            self._probing = False
            self._failed_probes += 1
            self._next_probe_at = now + self._delay(self._failed_probes + 1)
        self._wake()

    def abandon(self, admission: Admission) -> None:
        """A probe that ended without an answer (cancelled): let another caller probe."""
        if admission is Admission.PROBE:
            self._probing = False
            self._wake()

    def _delay(self, n: int) -> float:
        ceiling = min(self._cap, self._base * 2 ** (n - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

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


class Outages:
    """The process-wide breakers, one per dependency."""

    def __init__(self, *, max_wait_s: float, base_delay_s: float = BASE_DELAY_S, max_delay_s: float = MAX_DELAY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.storage = Breaker(STORAGE, max_wait_s=max_wait_s, base_delay_s=base_delay_s, max_delay_s=max_delay_s,
                               clock=clock)
        self.model = Breaker(MODEL, max_wait_s=max_wait_s, base_delay_s=base_delay_s, max_delay_s=max_delay_s,
                             clock=clock)


class _Answer(Generic[T]):
    """One call's result or error, and whether it was a sign of an outage."""

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

    def __init__(self, outages: Outages, on_stage: StageListener | None = None) -> None:
        self._outages = outages
        self._on_stage = on_stage
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
            seen = breaker.successes
            try:
                answer = await attempt()
            except BaseException:
                breaker.abandon(admission)
                raise
            if not answer.outage:
                breaker.succeeded(admission)
                return answer
            # Failed while the dependency answers others — some succeeded during this very
            # attempt and no one else has reported an outage — this call's own problem. A call
            # caught by an outage fails when others fail too, or while it is already open.
            if breaker.successes != seen and not breaker.open:
                own_failures += 1
            breaker.failed(admission)
            if admission is Admission.GIVE_UP or own_failures >= OWN_FAILURES:
                return answer

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
