"""Domain and port errors: every documented failure carries a kind and a stable code.

The HTTP layer maps ``kind`` to a status in one table; codes are the SPEC §4 codes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    INVALID = "invalid"  # 400
    VALIDATION = "validation"  # 422
    UNAUTHENTICATED = "unauthenticated"  # 401
    FORBIDDEN = "forbidden"  # 403
    NOT_FOUND = "not_found"  # 404
    CONFLICT = "conflict"  # 409
    TOO_LARGE = "too_large"  # 413
    UNSUPPORTED_MEDIA = "unsupported_media"  # 415
    RATE_LIMITED = "rate_limited"  # 429
    UPSTREAM = "upstream"  # 502
    UNAVAILABLE = "unavailable"  # 503
    TIMEOUT = "timeout"  # 504


class DomainError(Exception):
    """Base of every error a port or use case documents."""

    kind: ErrorKind = ErrorKind.INVALID
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = dict(details or {})
        if retryable is not None:
            self.details["retryable"] = retryable


class InvalidInputError(DomainError):
    kind = ErrorKind.INVALID
    code = "bad_request"


class ValidationFailedError(DomainError):
    """Field-level validation; ``details.errors = [{path, message}]``, never input values."""

    kind = ErrorKind.VALIDATION
    code = "validation_error"


class UnauthenticatedError(DomainError):
    kind = ErrorKind.UNAUTHENTICATED
    code = "auth_invalid"


class ForbiddenError(DomainError):
    kind = ErrorKind.FORBIDDEN
    code = "forbidden"


class NotFoundError(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "not_found"


class ConflictError(DomainError):
    kind = ErrorKind.CONFLICT
    code = "conflict"


class ArtifactExistsError(ConflictError):
    code = "artifact_exists"


class PayloadTooLargeError(DomainError):
    kind = ErrorKind.TOO_LARGE
    code = "payload_too_large"


class UnsupportedMediaError(DomainError):
    kind = ErrorKind.UNSUPPORTED_MEDIA
    code = "unsupported_media_type"


class UpstreamError(DomainError):
    kind = ErrorKind.UPSTREAM
    code = "upstream_error"


class UpstreamUnavailableError(DomainError):
    kind = ErrorKind.UNAVAILABLE
    code = "upstream_unavailable"


class StorageUnavailableError(DomainError):
    kind = ErrorKind.UNAVAILABLE
    code = "storage_unavailable"


class UpstreamTimeoutError(DomainError):
    kind = ErrorKind.TIMEOUT
    code = "upstream_timeout"
