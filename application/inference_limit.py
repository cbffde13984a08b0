"""A process-wide cap on in-flight model calls (INFERENCE_MAX_CONCURRENCY), shared by
sync requests and jobs because every caller goes through this one wrapper."""

from __future__ import annotations

import asyncio
import time

from application.ports.inference import InferenceClient, InferenceOutcome, InferenceRequest
from application.ports.telemetry import NullTelemetry, Telemetry


class ConcurrencyLimitedInference:
    """Also the one place every model call passes, so it reports their latency and outcome."""

    def __init__(self, inner: InferenceClient, limit: int, telemetry: Telemetry | None = None) -> None:
        self._inner = inner
        self._limit = limit
        self._telemetry = telemetry or NullTelemetry()
        self._semaphore: asyncio.Semaphore | None = None
        self.in_flight = 0

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    @property
    def limit(self) -> int:
        return self._limit

    async def complete(self, request: InferenceRequest) -> InferenceOutcome:
        if self._semaphore is None:  # created on first use, inside the serving event loop
            self._semaphore = asyncio.Semaphore(self._limit)
        async with self._semaphore:
            outcome = await self._call(request)
        # The freed slot woke the next waiting call; let it send its request before this one
        # is parsed, validated and stored, so the model server is not left with an idle slot
        # behind a whole wave of post-processing (docs/benchmarks.md §7).
        await asyncio.sleep(0)
        return outcome

    async def _call(self, request: InferenceRequest) -> InferenceOutcome:
        self.in_flight += 1
        self._telemetry.model_in_flight(1)
        started = time.perf_counter()
        error_code: str | None = "internal_error"
        try:
            outcome = await self._inner.complete(request)
            error_code = outcome.failure.code if outcome.failure else None
            return outcome
        finally:
            self.in_flight -= 1
            self._telemetry.model_in_flight(-1)
            self._telemetry.model_call(time.perf_counter() - started, error_code)

    async def ping(self) -> None:
        await self._inner.ping()
