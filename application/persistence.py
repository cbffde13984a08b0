"""State writes that retry through a database blip instead of leaving a job stuck (ADR 0052)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from domain.errors import StorageUnavailableError

logger = logging.getLogger("ocr.jobs")

T = TypeVar("T")

WRITE_PATIENCE_S = 60.0
_FIRST_DELAY_S = 0.1
_MAX_DELAY_S = 5.0


async def persistently(op: Callable[[], Awaitable[T]], *, what: str, patience_s: float = WRITE_PATIENCE_S,
                       sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                       clock: Callable[[], float] = time.monotonic) -> T:
    """Run ``op``; a retryable ``StorageUnavailableError`` is retried with exponential backoff
    (0.1 s doubling to 5 s) for up to ``patience_s``, then raised. ``op`` must be safe to
    repeat: a write whose commit landed but whose answer was lost runs again."""
    deadline = clock() + patience_s
    delay = _FIRST_DELAY_S
    attempt = 1
    while True:
        try:
            return await op()
        except StorageUnavailableError as exc:
            if not exc.details.get("retryable") or clock() + delay > deadline:
                raise
            logger.warning("state write failed; retrying", extra={
                "event": "state_write_retry", "what": what, "attempt": attempt, "error": exc.code})
        await sleep(delay)
        delay = min(delay * 2, _MAX_DELAY_S)
        attempt += 1
