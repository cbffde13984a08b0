"""``CostsSource`` over OpenAI's organization Costs API (SPEC §9.5, ADR 0072).

``GET {base}/organization/costs?start_time=…&bucket_width=1d&limit=180[&project_ids=…]``
with the admin key, following ``next_page`` → ``page`` until ``has_more`` is false, summing
``results[].amount.value``. One attempt per page and no retries: the summary is cached and the
analysis waits at most 2 s for it, so a failure is reported rather than waited out.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from domain.errors import (
    DomainError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)

logger = logging.getLogger("ocr.billing")

MAX_BUCKETS = 180  # the Costs API's largest page (days, with bucket_width=1d)
MAX_PAGES = 100
_LONG_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{80,}")


class OpenAICostsSource:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str = "https://api.openai.com/v1",
        admin_key: str = "",
        page_limit: int = MAX_BUCKETS,
        timeout_s: float | None = None,
    ) -> None:
        self._http = http
        url = base_url.strip().rstrip("/")
        self._base = url if urlsplit(url).path else f"{url}/v1"
        self._key = admin_key or ""
        self._limit = max(1, min(page_limit, MAX_BUCKETS))
        self._timeout = timeout_s

    @property
    def configured(self) -> bool:
        return bool(self._key)

    @property
    def base_url(self) -> str:
        return self._base

    async def spent_usd(
        self, *, start_time: int, end_time: int | None, project_id: str | None
    ) -> float:
        if not self._key:
            raise UpstreamError("OPENAI_ADMIN_KEY not configured", retryable=False)
        params: list[tuple[str, str | int]] = [
            ("start_time", int(start_time)),
            ("bucket_width", "1d"),
            ("limit", self._limit),
        ]
        if end_time is not None:
            params.append(("end_time", int(end_time)))
        if project_id:
            params.append(("project_ids", project_id))
        total, page, seen = 0.0, None, set()
        for _ in range(MAX_PAGES):
            payload = await self._page(params + ([("page", page)] if page else []))
            total += _page_sum(payload)
            page = payload.get("next_page")
            if not payload.get("has_more") or not isinstance(page, str) or not page:
                return round(total, 6)
            if page in seen:
                raise UpstreamError("costs API repeated a page cursor", retryable=False)
            seen.add(page)
        raise UpstreamError(f"costs API had more than {MAX_PAGES} pages", retryable=False)

    async def _page(self, params: list[tuple[str, Any]]) -> dict[str, Any]:
        extra: dict[str, Any] = {} if self._timeout is None else {"timeout": self._timeout}
        try:
            response = await self._http.get(
                f"{self._base}/organization/costs",
                params=params,
                headers={"Authorization": f"Bearer {self._key}", "Accept": "application/json"},
                **extra,
            )
        except httpx.HTTPError as exc:
            raise self._failed(_from_exception(exc)) from None
        status = response.status_code
        if not 200 <= status < 300:
            raise self._failed(_from_status(status, self._scrub(_message(response))))
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise self._failed(UpstreamError("costs API: malformed response", retryable=False))
        return payload

    def _scrub(self, text: str) -> str:
        if self._key:
            text = text.replace(self._key, "[redacted]")
        text = " ".join(_LONG_TOKEN.sub("[…]", text).split())
        return text[:300]

    def _failed(self, error: DomainError) -> DomainError:
        logger.warning(
            "costs call failed",
            extra={"event": "billing_costs_error", "code": error.code, "error": error.message},
        )
        return error


def _page_sum(payload: dict[str, Any]) -> float:
    total = 0.0
    for bucket in payload["data"]:
        results = bucket.get("results") if isinstance(bucket, dict) else None
        for result in results if isinstance(results, list) else ():
            amount = result.get("amount") if isinstance(result, dict) else None
            value = amount.get("value") if isinstance(amount, dict) else None
            try:
                total += float(value) if value is not None and not isinstance(value, bool) else 0.0
            except (TypeError, ValueError):
                raise UpstreamError("costs API: amount is not a number", retryable=False) from None
    return total


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return response.text


def _from_status(status: int, message: str) -> DomainError:
    text = f"costs API answered HTTP {status}: {message}"
    if status in (408, 504):
        return UpstreamTimeoutError(text, retryable=True)
    if status in (425, 429, 503):
        return UpstreamUnavailableError(text, retryable=True)
    return UpstreamError(text, retryable=status >= 500)


def _from_exception(exc: httpx.HTTPError) -> DomainError:
    name = type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError | httpx.PoolTimeout):
        return UpstreamUnavailableError(f"costs API not reachable: {name}", retryable=True)
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeoutError(f"costs API timed out: {name}", retryable=True)
    return UpstreamError(f"costs API call failed: {name}", retryable=True)
