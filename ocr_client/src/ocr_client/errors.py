"""Typed exceptions built from the service's error envelope (SPEC §4).

``{"error": {"code", "message", "request_id", "details"}}`` becomes an :class:`OcrError`
subclass chosen by status and code in :data:`ERROR_TABLE` (one table, most specific first).
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

__all__ = [
    "ArtifactExistsError", "AuthError", "BadRequestError", "ConflictError", "ERROR_TABLE", "ForbiddenError",
    "JobWaitTimeout", "NotFoundError", "OcrConnectionError", "OcrError", "PayloadTooLargeError",
    "RateLimitedError", "ServerError", "UpstreamError", "ValidationError", "error_from_response",
]


class OcrError(Exception):
    """Any failure the client reports. ``status`` is ``None`` when there was no HTTP answer."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "client_error",
                 request_id: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.details: dict[str, Any] = details or {}

    @property
    def retryable(self) -> bool:
        """The server's ``details.retryable`` when given; else 429 and upstream 5xx are retryable."""
        flag = self.details.get("retryable")
        if isinstance(flag, bool):
            return flag
        return self.status in (429, 502, 503, 504)

    def __str__(self) -> str:
        where = f" [request_id={self.request_id}]" if self.request_id else ""
        status = f"{self.status} " if self.status is not None else ""
        return f"{status}{self.code}: {self.message}{where}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r}, "
                f"request_id={self.request_id!r})")


class BadRequestError(OcrError):
    """400 ``bad_request``, 405 ``method_not_allowed``, 415 ``unsupported_media_type``."""


class AuthError(OcrError):
    """401 ``auth_missing`` / ``auth_invalid``."""


class ForbiddenError(OcrError):
    """403 ``forbidden``; ``details.required_scopes`` names what is missing."""

    @property
    def required_scopes(self) -> list[str]:
        return list(self.details.get("required_scopes") or [])


class NotFoundError(OcrError):
    """404 ``not_found`` / ``unknown_task`` (``details`` then lists the available tasks)."""


class ConflictError(OcrError):
    """409 ``conflict`` (e.g. the job is not finished yet, or already finished on cancel)."""


class ArtifactExistsError(ConflictError):
    """409 ``artifact_exists``: the request id (or run id) was used before."""


class PayloadTooLargeError(OcrError):
    """413 ``payload_too_large``."""


class ValidationError(OcrError):
    """422 ``validation_error``; ``errors`` is ``[{"path", "message"}]``."""

    @property
    def errors(self) -> list[dict[str, str]]:
        return list(self.details.get("errors") or [])


class RateLimitedError(OcrError):
    """429 ``rate_limited``."""


class ServerError(OcrError):
    """500 ``internal_error`` (and any other status the table does not name)."""


class UpstreamError(OcrError):
    """502 ``upstream_error`` / ``invalid_model_output``, 503 ``upstream_unavailable`` /
    ``storage_unavailable``, 504 ``upstream_timeout``."""


class OcrConnectionError(OcrError):
    """The server could not be reached, or the connection failed or timed out (retryable)."""

    @property
    def retryable(self) -> bool:
        return True


class JobWaitTimeout(OcrError, TimeoutError):
    """``wait_for`` gave up before the job reached a terminal state; ``job`` is the last state seen."""

    def __init__(self, message: str, *, job: Any = None) -> None:
        super().__init__(message, code="wait_timeout")
        self.job = job


# (status, code or None for "any code") -> class; looked up exact match first, then status.
ERROR_TABLE: dict[tuple[int, str | None], type[OcrError]] = {
    (409, "artifact_exists"): ArtifactExistsError,
    (400, None): BadRequestError,
    (401, None): AuthError,
    (403, None): ForbiddenError,
    (404, None): NotFoundError,
    (405, None): BadRequestError,
    (409, None): ConflictError,
    (413, None): PayloadTooLargeError,
    (415, None): BadRequestError,
    (422, None): ValidationError,
    (429, None): RateLimitedError,
    (500, None): ServerError,
    (502, None): UpstreamError,
    (503, None): UpstreamError,
    (504, None): UpstreamError,
}


def error_class(status: int, code: str | None) -> type[OcrError]:
    found = ERROR_TABLE.get((status, code)) or ERROR_TABLE.get((status, None))
    if found is not None:
        return found
    return ServerError if status >= 500 else BadRequestError


class _Body(msgspec.Struct):
    code: str = "unknown_error"
    message: str = ""
    request_id: str | None = None
    details: dict[str, Any] | None = None


class _Envelope(msgspec.Struct):
    error: _Body


def error_from_response(response: httpx.Response) -> OcrError:
    """The typed exception for a non-2xx response; tolerates bodies that are not the envelope
    (a proxy's HTML 502, an empty body)."""
    status = response.status_code
    header_id = response.headers.get("x-request-id")
    try:
        body = msgspec.json.decode(response.content, type=_Envelope).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = response.text.strip()[:200] if response.content else ""
        body = _Body(code=f"http_{status}", message=text or response.reason_phrase or f"HTTP {status}")
    cls = error_class(status, body.code)
    return cls(body.message, status=status, code=body.code, request_id=body.request_id or header_id,
               details=body.details or {})
