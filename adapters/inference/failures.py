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

import httpx
import msgspec

from adapters.openai_http import transport
from adapters.openai_http.transport import error_message, scrub, status_message, upstream_request_id
from domain.receipts.context_overflow import Overflow, parse_overflow

_OVERFLOW_STATUSES = frozenset({400, 413, 422})


class AttemptError(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str
    http_status: int | None = None
    retry: bool = False  # worth another attempt now (and the ``retryable`` flag reported)
    retry_after: float | None = None
    overflow: Overflow | None = None
    upstream_request_id: str | None = None  # the model server's id for its answer, when it sent one


def from_exception(exc: httpx.HTTPError, *, secrets: tuple[str, ...] = ()) -> AttemptError:
    failure = transport.from_exception(exc, secrets=secrets)
    return AttemptError(code=failure.code, message=failure.message, retry=failure.retry)


def from_response(response: httpx.Response, *, secrets: tuple[str, ...] = ()) -> AttemptError:
    """A non-2xx answer."""
    status = response.status_code
    try:
        payload = response.json()
    except ValueError:
        payload = None
    detail = error_message(payload, response.text)
    overflow = parse_overflow(detail) if status in _OVERFLOW_STATUSES else None
    if overflow is not None:
        return AttemptError(
            code="context_overflow", http_status=status, message=status_message(status, detail, secrets=secrets),
            overflow=overflow, upstream_request_id=upstream_request_id(response.headers, secrets=secrets),
        )
    failure = transport.from_response(response, secrets=secrets)
    return AttemptError(code=failure.code, http_status=status, message=failure.message, retry=failure.retry,
                        retry_after=failure.retry_after, upstream_request_id=failure.upstream_request_id)


def malformed(status: int, reason: str, *, secrets: tuple[str, ...] = ()) -> AttemptError:
    """A 2xx whose body is not a usable chat completion: the server is broken, not busy."""
    return AttemptError(
        code="upstream_error",
        http_status=status,
        message=scrub(f"malformed response: {reason}", secrets=secrets),
    )


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
        return transport.backoff_delay(failed_attempt, retry_after, base_s=self.base_s, max_s=self.max_s,
                                       retry_after_max_s=self.retry_after_max_s, rng=self._rng)
