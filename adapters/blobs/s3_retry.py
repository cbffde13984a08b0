"""Retrying S3 calls and translating botocore failures into port errors (ADR 0031).

Nothing outside ``adapters.blobs`` ever sees a botocore exception.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotoConnectionError

from domain.errors import (
    ArtifactExistsError,
    DomainError,
    NotFoundError,
    StorageUnavailableError,
)

logger = logging.getLogger("ocr.storage")

T = TypeVar("T")

THROTTLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "TooManyRequestsException",
        "BandwidthLimitExceeded",
    }
)
TRANSIENT_CODES = frozenset(
    {"RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable"}
)
PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def retry_reason(exc: BaseException) -> str | None:
    """Why ``exc`` is worth another attempt, or None when it is not."""
    if isinstance(exc, ClientError):
        code, status = error_code(exc), http_status(exc)
        if code in THROTTLE_CODES or code in TRANSIENT_CODES or status == 429 or status >= 500:
            return code or str(status)
        return None
    if isinstance(exc, BotoConnectionError | HTTPClientError | IncompleteReadError):
        return type(exc).__name__
    return None


def is_precondition_failed(exc: BaseException) -> bool:
    if not isinstance(exc, ClientError):
        return False
    code, status = error_code(exc), http_status(exc)
    return code in PRECONDITION_CODES or (status == 412 and code in ("", "412"))


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and (
        error_code(exc) in NOT_FOUND_CODES
        or (http_status(exc) == 404 and error_code(exc) != "NoSuchBucket")
    )


def is_missing_bucket(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and error_code(exc) == "NoSuchBucket"


def translate(
    exc: BotoCoreError | ClientError, *, rel: str, missing_bucket: DomainError | None = None
) -> DomainError:
    """The port error for a botocore failure that was not (or no longer) retried."""
    if missing_bucket is not None and is_missing_bucket(exc):
        # A configuration fault, not an outage: say which bucket and how to fix it.
        return missing_bucket
    if is_precondition_failed(exc):
        # 409 ConditionalRequestConflict means a concurrent conditional write to the same
        # key is in flight; with If-None-Match: * one of them wins, so the key is taken.
        return ArtifactExistsError("artifact already exists", details={"rel": rel})
    if is_not_found(exc):
        return NotFoundError("artifact not found", details={"rel": rel})
    reason = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
    # Bucket and key stay out of the error: responses only ever carry the rel (a missing
    # bucket, above, is the exception: the operator's fix needs its name).
    return StorageUnavailableError(
        "object storage request failed",
        details={"reason": reason},
        retryable=retry_reason(exc) is not None,
    )


class Retrier:
    """Bounded attempts with exponential backoff and full jitter."""

    def __init__(
        self,
        *,
        max_attempts: int = 4,
        base_delay: float = 0.1,
        max_delay: float = 5.0,
        missing_bucket: Callable[[], DomainError] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.missing_bucket = missing_bucket
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    async def run(self, op: str, rel: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call``; retryable failures are retried, the rest raise as port errors."""
        attempt = 1
        while True:
            try:
                return await call()
            except (BotoCoreError, ClientError) as exc:
                reason = retry_reason(exc)
                if reason is None:
                    missing = self.missing_bucket() if self.missing_bucket else None
                    raise translate(exc, rel=rel, missing_bucket=missing) from exc
                if attempt >= self.max_attempts:
                    raise StorageUnavailableError(
                        "object storage unavailable",
                        details={"reason": reason, "attempts": attempt},
                        retryable=True,
                    ) from exc
                delay = self.delay(attempt)
                logger.warning(
                    "storage_retry",
                    extra={
                        "event": "storage_retry",
                        "op": op,
                        "rel": rel,
                        "attempt": attempt,
                        "reason": reason,
                        "delay_ms": round(delay * 1000, 1),
                    },
                )
                await asyncio.sleep(delay)
                attempt += 1
