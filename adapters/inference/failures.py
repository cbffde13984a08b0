"""Translating one failed upstream attempt into port terms, and timing the next one.

The whole classification table lives here so it reads in one place (ADR 0020):

=====================================  ======================  =====  =========
failure                                code                    retry  retryable
=====================================  ======================  =====  =========
408, 504, read/write timeout           upstream_timeout        yes    yes
425, 429, 503, connect error/timeout,  upstream_unavailable    yes    yes
pool timeout
other 5xx, dropped connection          upstream_error          yes    yes
other 4xx, malformed 2xx body          upstream_error          no     no
400/413/422 saying "context length"    context_overflow        shrink no
=====================================  ======================  =====  =========
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import msgspec

from adapters.inference.openai_wire import error_message, scrub
from domain.receipts.context_overflow import Overflow, parse_overflow

_OVERFLOW_STATUSES = frozenset({400, 413, 422})


class AttemptError(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str
    http_status: int | None = None
    retry: bool = False  # worth another attempt now (and the ``retryable`` flag reported)
    retry_after: float | None = None
    overflow: Overflow | None = None


def _status_code(status: int) -> tuple[str, bool]:
    if status in (408, 504):
        return "upstream_timeout", True
    if status in (425, 429, 503):
        return "upstream_unavailable", True
    return "upstream_error", status >= 500


def from_exception(exc: httpx.HTTPError, *, secrets: tuple[str, ...] = ()) -> AttemptError:
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
    return AttemptError(code=code, message=f"{name}: {detail}" if detail else name, retry=retry)


def from_response(response: httpx.Response, *, secrets: tuple[str, ...] = ()) -> AttemptError:
    """A non-2xx answer."""
    status = response.status_code
    try:
        payload = response.json()
    except ValueError:
        payload = None
    detail = error_message(payload, response.text)
    message = scrub(f"HTTP {status}: {detail}", secrets=secrets)
    overflow = parse_overflow(detail) if status in _OVERFLOW_STATUSES else None
    if overflow is not None:
        return AttemptError(
            code="context_overflow", http_status=status, message=message, overflow=overflow
        )
    code, retry = _status_code(status)
    retry_after = parse_retry_after(response.headers.get("retry-after")) if retry else None
    return AttemptError(
        code=code, http_status=status, message=message, retry=retry, retry_after=retry_after
    )


def malformed(status: int, reason: str, *, secrets: tuple[str, ...] = ()) -> AttemptError:
    """A 2xx whose body is not a usable chat completion: the server is broken, not busy."""
    return AttemptError(
        code="upstream_error",
        http_status=status,
        message=scrub(f"malformed response: {reason}", secrets=secrets),
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or ``None``."""
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


class Backoff:
    """Exponential backoff with "equal jitter": half fixed, half random, so waits never collapse to 0."""

    def __init__(
        self,
        *,
        base_s: float,
        max_s: float,
        retry_after_max_s: float,
        rng: random.Random | None = None,
    ) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self.retry_after_max_s = retry_after_max_s
        self._rng = rng or random.Random()

    def delay(self, failed_attempt: int, retry_after: float | None = None) -> float:
        """Wait before the attempt after ``failed_attempt`` (1-based); ``Retry-After`` wins, capped."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_max_s)
        ceiling = min(self.max_s, self.base_s * (2 ** (failed_attempt - 1)))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)
