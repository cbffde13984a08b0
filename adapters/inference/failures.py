"""Which upstream failures are worth another attempt, and how long to wait before it.

Kept apart from the HTTP client so the classification table reads in one place (ADR 0020).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

RETRYABLE_STATUSES = frozenset({408, 425, 429})


class Classified:
    """Port-level view of one failed attempt: error code, retry decision, retryable flag."""

    __slots__ = ("code", "retry", "retryable")

    def __init__(self, code: str, *, retry: bool) -> None:
        self.code = code
        self.retry = retry
        # The flag reported to callers equals "another attempt later might succeed".
        self.retryable = retry


def classify_status(status: int) -> Classified:
    if status in (408, 504):
        return Classified("upstream_timeout", retry=True)
    if status in (425, 429, 503):
        return Classified("upstream_unavailable", retry=True)
    if status >= 500:
        return Classified("upstream_error", retry=True)
    return Classified("upstream_error", retry=False)


def classify_exception(exc: httpx.HTTPError) -> Classified:
    # Connect failures mean "nobody is answering"; read/write timeouts mean "answering too slowly".
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError | httpx.PoolTimeout):
        return Classified("upstream_unavailable", retry=True)
    if isinstance(exc, httpx.TimeoutException):
        return Classified("upstream_timeout", retry=True)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return Classified("upstream_error", retry=True)
    return Classified("upstream_error", retry=False)


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
        """Wait before the attempt after ``failed_attempt`` (1-based)."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_max_s)
        ceiling = min(self.max_s, self.base_s * (2 ** (failed_attempt - 1)))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)
