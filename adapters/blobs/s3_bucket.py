"""The configured bucket itself: the error that names it when it is missing, and creating it
at startup when the operator asked for that (``S3_CREATE_BUCKET=1``)."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from adapters.blobs.s3_retry import Retrier, error_code, http_status
from domain.errors import StorageUnavailableError

logger = logging.getLogger("ocr.storage")

ALREADY_THERE = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})
# Regions whose CreateBucket takes no LocationConstraint (R2's "auto"; AWS's default region).
NO_LOCATION = frozenset({"", "auto", "us-east-1"})


def missing_bucket_error(bucket: str, hint: str) -> StorageUnavailableError:
    """Not retryable: the bucket will not appear by itself; the message says what to do."""
    fix = hint or f"create bucket {bucket}"
    return StorageUnavailableError(
        f"object storage bucket {bucket!r} does not exist: {fix}",
        details={"reason": "bucket_missing", "bucket": bucket},
        retryable=False,
    )


async def create_bucket_if_missing(client: Any, bucket: str, *, region: str = "auto") -> bool:
    """Create ``bucket`` unless it exists; True when this call created it. Another process
    creating it at the same moment is fine (BucketAlreadyOwnedByYou)."""
    retry = Retrier(max_attempts=3)
    try:
        await client.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        if http_status(exc) != 404 and error_code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
            raise StorageUnavailableError(
                f"object storage bucket {bucket!r} could not be checked: {error_code(exc)}",
                details={"reason": error_code(exc), "bucket": bucket}, retryable=False,
            ) from None
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region not in NO_LOCATION:
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}

    async def create() -> Any:
        try:
            return await client.create_bucket(**kwargs)
        except ClientError as exc:
            if error_code(exc) in ALREADY_THERE:
                return None
            raise

    try:
        await retry.run("create_bucket", "", create)
    except StorageUnavailableError as exc:
        reason = str(exc.details.get("reason", ""))
        raise StorageUnavailableError(
            f"object storage bucket {bucket!r} could not be created: {reason or exc.message}",
            details={"reason": reason, "bucket": bucket},
            retryable=bool(exc.details.get("retryable", False)),
        ) from exc
    logger.info("storage_bucket_created", extra={"event": "storage_bucket_created", "bucket": bucket})
    return True
