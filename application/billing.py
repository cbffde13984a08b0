"""Month-to-date spend and what is left (SPEC §9.5), cached per project; the analyze
endpoint never waits more than a bounded time for it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from application.ports.billing import CostsSource
from domain.errors import DomainError

logger = logging.getLogger("ocr.billing")

NOT_CONFIGURED = "OPENAI_ADMIN_KEY not configured"
FAILURE_TTL_S = 30.0


class BillingConfig(msgspec.Struct, frozen=True, kw_only=True):
    monthly_limit_usd: float | None = None
    prepaid_credits_usd: float | None = None
    cache_ttl_s: float = 300.0


def month_bounds(now: datetime) -> tuple[int, int]:
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return int(start.timestamp()), int(following.timestamp())


class BillingService:
    def __init__(self, source: CostsSource, config: BillingConfig, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self._config = config
        self._clock = clock
        self._monotonic = monotonic
        self._cache: dict[str | None, tuple[float, dict[str, Any]]] = {}
        self._inflight: dict[str | None, asyncio.Task[dict[str, Any]]] = {}

    async def summary(self, project_id: str | None = None) -> dict[str, Any]:
        cached = self._cache.get(project_id)
        if cached and self._monotonic() < cached[0]:
            return cached[1]
        task = self._inflight.get(project_id)
        if task is None:  # one provider call per project at a time, however many requests wait
            task = asyncio.create_task(self._build(project_id))
            self._inflight[project_id] = task
            task.add_done_callback(lambda _: self._inflight.pop(project_id, None))
        return await asyncio.shield(task)

    async def summary_within(self, timeout_s: float, project_id: str | None = None) -> dict[str, Any] | None:
        """The summary if it is ready within ``timeout_s``; the fetch goes on and fills the cache."""
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(self.summary(project_id), timeout_s)
        return None

    async def _build(self, project_id: str | None) -> dict[str, Any]:
        start, end = month_bounds(self._clock())
        body = self._empty(start, end)
        ttl = self._config.cache_ttl_s
        if not self._source.configured:
            body["error"] = NOT_CONFIGURED
        else:
            body["configured"] = True
            try:
                spent = round(await self._source.spent_usd(start_time=start, end_time=None, project_id=project_id), 6)
            except DomainError as exc:
                logger.warning("billing summary failed", extra={"event": "billing_error", "error": exc.code})
                body["error"] = f"{exc.code}: {exc.message}"
                ttl = min(ttl, FAILURE_TTL_S)
            else:
                body.update(spent_usd=spent, month_to_date_spend_usd=spent, spend_month_to_date_usd=spent,
                            remaining_usd=self._remaining(spent))
        self._cache[project_id] = (self._monotonic() + ttl, body)
        return body

    def _empty(self, start: int, end: int) -> dict[str, Any]:
        return {"currency": "usd", "period_start": start, "period_end": end, "spent_usd": None,
                "month_to_date_spend_usd": None, "spend_month_to_date_usd": None,
                "limit_usd": self._config.monthly_limit_usd, "budget_monthly_usd": self._config.monthly_limit_usd,
                "prepaid_credits_usd": self._config.prepaid_credits_usd, "remaining_usd": None,
                "configured": False, "error": None}

    def _remaining(self, spent: float) -> float | None:
        if self._config.monthly_limit_usd is not None:
            return round(self._config.monthly_limit_usd - spent, 6)
        if self._config.prepaid_credits_usd is not None:
            return round(self._config.prepaid_credits_usd - spent, 6)
        return None
