"""A process-wide cap on in-flight model calls (INFERENCE_MAX_CONCURRENCY), shared by
sync requests and jobs because every caller goes through this one wrapper."""

from __future__ import annotations

import asyncio

from application.ports.inference import InferenceClient, InferenceOutcome, InferenceRequest


class ConcurrencyLimitedInference:
    def __init__(self, inner: InferenceClient, limit: int) -> None:
        self._inner = inner
        self._limit = limit
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
            self.in_flight += 1
            try:
                return await self._inner.complete(request)
            finally:
                self.in_flight -= 1

    async def ping(self) -> None:
        await self._inner.ping()
