"""One OpenAI-compatible HTTP exchange: the attempt, its classification, the wait before the
next one, and the port error at the end (ADR 0070, same table as ADR 0020).

=====================================  ======================  ===========================
failure                                code                    retried and ``retryable``
=====================================  ======================  ===========================
408, 504, read/write timeout           upstream_timeout        yes
425, 429, 503, connect error/timeout,  upstream_unavailable    yes
pool timeout
other 5xx, dropped connection          upstream_error          yes
other 4xx, malformed 2xx body          upstream_error          no
=====================================  ======================  ===========================

Chat, embeddings and vLLM inference all classify and time their retries here (the copy once
kept in ``adapters/embeddings/transport.py`` is gone).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec

from application.ports.chat import ModelCall
from domain.errors import (
    DomainError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)

MESSAGE_LIMIT = 300
# A server answering ``Retry-After: 0`` (or 0.2) while refusing would be hammered: such hints
# get the exponential backoff instead; this much or more is honoured (capped).
RETRY_AFTER_FLOOR_S = 0.5
_ERRORS: dict[str, type[DomainError]] = {
    "upstream_timeout": UpstreamTimeoutError,
    "upstream_unavailable": UpstreamUnavailableError,
}
# Where OpenAI-compatible servers and the proxies in front of them put their own request id.
UPSTREAM_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "apim-request-id", "cf-ray")
_REQUEST_ID_LIMIT = 128
_LONG_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{120,}")
_DATA_URI = re.compile(r"data:[\w.+/-]*;base64,[A-Za-z0-9+/=]*")


class Failure(msgspec.Struct, frozen=True, kw_only=True):
    """One failed attempt, classified."""

    code: str  # upstream_error | upstream_timeout | upstream_unavailable
    message: str
    http_status: int | None = None
    retry: bool = False  # worth another attempt, and the ``retryable`` flag reported
    retry_after: float | None = None
    error: dict[str, Any] | None = None  # the upstream's error object, for callers to inspect
    upstream_request_id: str | None = None  # the id the upstream gave its answer, for its logs


def normalise_base_url(base_url: str) -> str:
    """``http://host:8000`` and ``…/`` gain ``/v1``; a URL with a path (``…/v1``,
    ``…/v1beta/openai``) is kept as given, less the trailing slash."""
    url = base_url.strip().rstrip("/")
    return url if urlsplit(url).path else f"{url}/v1"


def scrub(text: str, *, secrets: tuple[str, ...] = (), limit: int = MESSAGE_LIMIT) -> str:
    """Safe to log and return: no secret, no long opaque token, bounded length."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = _DATA_URI.sub("data:[image]", text)  # an echoed request must never leak the image
    text = " ".join(_LONG_TOKEN.sub("[…]", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_object(payload: Any) -> dict[str, Any] | None:
    if isinstance(payload, dict):
        err = payload.get("error")
        return err if isinstance(err, dict) else payload
    return None


def error_message(payload: Any, raw: str) -> str:
    """OpenAI's ``{"error": {"message"}}``, vLLM's ``{"message"}``, ``{"detail"}``, or the text."""
    if isinstance(payload, dict):
        err = payload.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(err, str):
            return err
        for key in ("message", "detail"):
            if isinstance(payload.get(key), str):
                return payload[key]
    return raw


def status_message(status: int, detail: str, *, secrets: tuple[str, ...] = ()) -> str:
    """``HTTP 400: <the upstream's message>``; with an empty body (a proxy's 404, a bare 502)
    the status says it all: ``HTTP 404 Not Found from the model server``."""
    detail = detail.strip()
    if detail and detail not in ("{}", "null", '""'):
        return scrub(f"HTTP {status}: {detail}", secrets=secrets)
    reason = httpx.codes.get_reason_phrase(status)
    return f"HTTP {status} {reason} from the model server" if reason else f"HTTP {status} from the model server"


def upstream_request_id(headers: httpx.Headers, *, secrets: tuple[str, ...] = ()) -> str | None:
    """The upstream's own id for the answer (``x-request-id`` and kin), when it sent one."""
    for name in UPSTREAM_REQUEST_ID_HEADERS:
        value = headers.get(name, "").strip()
        if value:
            return scrub(value, secrets=secrets, limit=_REQUEST_ID_LIMIT)
    return None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), or ``None``."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def from_exception(exc: httpx.HTTPError, *, secrets: tuple[str, ...] = ()) -> Failure:
    # Connect failures mean "nobody is answering"; read/write timeouts mean "answering too slowly".
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError | httpx.PoolTimeout):
        code, retry = "upstream_unavailable", True
    elif isinstance(exc, httpx.TimeoutException):
        code, retry = "upstream_timeout", True
    elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        code, retry = "upstream_error", True
    else:
        code, retry = "upstream_error", False
    detail = scrub(str(exc), secrets=secrets)
    name = type(exc).__name__
    return Failure(code=code, message=f"{name}: {detail}" if detail else name, retry=retry)


def from_response(response: httpx.Response, *, secrets: tuple[str, ...] = ()) -> Failure:
    """A non-2xx answer."""
    status = response.status_code
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if status in (408, 504):
        code, retry = "upstream_timeout", True
    elif status in (425, 429, 503):
        code, retry = "upstream_unavailable", True
    else:
        code, retry = "upstream_error", status >= 500
    detail = error_message(payload, response.text)
    return Failure(
        code=code,
        http_status=status,
        message=status_message(status, detail, secrets=secrets),
        retry=retry,
        retry_after=parse_retry_after(response.headers.get("retry-after")) if retry else None,
        error=error_object(payload),
        upstream_request_id=upstream_request_id(response.headers, secrets=secrets),
    )


def malformed(status: int, reason: str) -> Failure:
    """A 2xx whose body is unusable: the server is broken, not busy — asking again won't help."""
    return Failure(code="upstream_error", http_status=status, message=f"malformed response: {reason}")


def port_error(failure: Failure, calls: list[ModelCall]) -> DomainError:
    """The port error for the final failure, with every attempt made (as plain dicts), and the
    upstream's request id when it sent one."""
    details: dict[str, Any] = {
        "retryable": failure.retry,
        "http_status": failure.http_status,
        "attempts": len(calls),
        "calls": [msgspec.to_builtins(call) for call in calls],
    }
    if failure.upstream_request_id is not None:
        details["upstream_request_id"] = failure.upstream_request_id
    return _ERRORS.get(failure.code, UpstreamError)(failure.message, details=details)


def backoff_delay(failed: int, retry_after: float | None, *, base_s: float, max_s: float,
                  retry_after_max_s: float, rng: random.Random) -> float:
    """The wait after the ``failed``-th failure (1-based): ``Retry-After`` of at least
    ``RETRY_AFTER_FLOOR_S`` wins (capped), else exponential backoff with equal jitter (half
    fixed, half random, so waits never collapse to 0)."""
    if retry_after is not None and retry_after >= RETRY_AFTER_FLOOR_S:
        return min(retry_after, retry_after_max_s)
    ceiling = min(max_s, base_s * (2 ** (failed - 1)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class RetryPolicy:
    """Total attempts per call; exponential backoff with equal jitter (half fixed, half random,
    so waits never collapse to 0); a ``Retry-After`` not below the floor replaces the computed
    wait, capped."""

    def __init__(
        self,
        *,
        max_attempts: int,
        backoff_base_s: float,
        backoff_max_s: float,
        retry_after_max_s: float,
        sleep: Callable[[float], Awaitable[None]],
        rng: random.Random | None = None,
    ) -> None:
        self.max_attempts = max(1, max_attempts)
        self.base_s = backoff_base_s
        self.max_s = backoff_max_s
        self.retry_after_max_s = retry_after_max_s
        self._sleep = sleep
        self._rng = rng or random.Random()

    def delay(self, failed: int, retry_after: float | None = None) -> float:
        return backoff_delay(failed, retry_after, base_s=self.base_s, max_s=self.max_s,
                             retry_after_max_s=self.retry_after_max_s, rng=self._rng)

    async def again(self, failure: Failure, failed: int) -> bool:
        """After the ``failed``-th failure: wait and say yes, or say no (not retryable, or the
        attempts are used up)."""
        if not failure.retry or failed >= self.max_attempts:
            return False
        await self._sleep(self.delay(failed, failure.retry_after))
        return True


class Exchange:
    """Sends one request to an OpenAI-compatible server and logs it; never raises for upstream
    faults — a ``Failure`` comes back instead."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        logger: logging.Logger,
        event: str,
    ) -> None:
        self._http = http
        self.base_url = normalise_base_url(base_url)
        self._api_key = api_key or ""
        self.secrets = (self._api_key,) if self._api_key else ()
        self._logger = logger
        self._event = event

    def headers(self, request_id: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        if request_id:
            headers["X-Request-ID"] = request_id
        return headers

    async def send(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: Any = None,
        request_id: str | None = None,
        log: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """The decoded JSON body of a 2xx answer, or a ``Failure``."""
        fields = {**(log or {}), "request_id": request_id}
        self._logger.info(f"{self._event} start", extra={"event": f"{self._event}_start", **fields})
        started = time.perf_counter()
        headers = self.headers(request_id)
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            if body is not None:
                headers["Content-Type"] = "application/json"
                content = msgspec.json.encode(body)
                response = await self._http.request(
                    method, self.base_url + path, content=content, params=params,
                    headers=headers, **extra,
                )
            else:
                response = await self._http.request(
                    method, self.base_url + path, params=params, headers=headers, **extra
                )
        except httpx.HTTPError as exc:
            return self._failed(from_exception(exc, secrets=self.secrets), fields, started)
        status = response.status_code
        if not 200 <= status < 300:
            return self._failed(from_response(response, secrets=self.secrets), fields, started)
        try:
            payload = response.json()
        except ValueError:
            return self._failed(malformed(status, "body is not JSON"), fields, started)
        self._logger.info(
            f"{self._event} done",
            extra={"event": f"{self._event}_end", **fields, "status": status, "duration_ms": _ms(started)},
        )
        return payload

    def _failed(self, failure: Failure, fields: dict[str, Any], started: float) -> Failure:
        self._logger.warning(
            f"{self._event} failed",
            extra={
                "event": f"{self._event}_error",
                **fields,
                "status": failure.http_status,
                "code": failure.code,
                "error": failure.message,
                "duration_ms": _ms(started),
            },
        )
        return failure


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
