"""The one table from error kind to HTTP status, and the SPEC §4 error envelope."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from application.request_context import current_request_id
from domain.errors import DomainError, ErrorKind

logger = logging.getLogger("ocr.http")

STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 400,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.UNSUPPORTED_MEDIA: 415,
    ErrorKind.VALIDATION: 422,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.UPSTREAM: 502,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.TIMEOUT: 504,
}

_CODE_BY_STATUS = {
    400: "bad_request", 401: "auth_invalid", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
    429: "rate_limited", 500: "internal_error", 502: "upstream_error", 503: "upstream_unavailable",
    504: "upstream_timeout",
}


def envelope(status: int, code: str, message: str, details: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> Response[dict[str, Any]]:
    body_details = dict(details or {})
    if status >= 500 and status != 500:
        body_details.setdefault("retryable", True)
    body = {"error": {"code": code, "message": message, "request_id": current_request_id.get(),
                      "details": body_details}}
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def domain_error_handler(_: Request, exc: DomainError) -> Response[dict[str, Any]]:
    status = STATUS_BY_KIND[exc.kind]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return envelope(status, exc.code, exc.message, exc.details, headers)


_PARAMETER_SOURCES = ("query", "path", "header", "cookie")


def _source(item: dict[str, Any]) -> str | None:
    source = item.get("source")
    return getattr(source, "value", source)  # litestar's ParamType is a str Enum


def validation_handler(_: Request, exc: ValidationException) -> Response[dict[str, Any]]:
    items = [item for item in exc.extra or [] if isinstance(item, dict)]
    parameters = [item for item in items if _source(item) in _PARAMETER_SOURCES]
    if parameters:
        # SPEC §4: a malformed query, path or header parameter is a bad request (400);
        # 422 is for a body that fails validation.
        errors = [{"path": f"{_source(item)}.{item.get('key')}", "message": str(item.get("message", "invalid value"))}
                  for item in parameters]
        return envelope(400, "bad_request", "invalid request parameters",
                        {"field": parameters[0].get("key"), "errors": errors})
    errors = []
    for item in items:
        key = item.get("key")
        path = "$" if key in (None, "data") else f"$.{key}"
        errors.append({"path": path, "message": str(item.get("message", "invalid value"))})
    return envelope(422, "validation_error", "the request failed validation", {"errors": errors})


DEBUG_PREFIX = "/v1/debug/"
DEBUG_ROUTES_OFF = "debug routes are off: set DEBUG_MODE=1 to enable /v1/debug/*"


def _debug_routes_off(request: Request) -> bool:
    """A path under /v1/debug/ while DEBUG_MODE=0: the routes are not registered (still a 404),
    but the message says why, so a caller is not left with a bare "no such route"."""
    if not request.url.path.startswith(DEBUG_PREFIX):
        return False
    settings = getattr(getattr(request.app.state, "services", None), "settings", None)
    return settings is not None and not settings.debug_mode


def http_error_handler(request: Request, exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    code = _CODE_BY_STATUS.get(status, "bad_request" if status < 500 else "internal_error")
    message = {404: "no such route", 405: "method not allowed for this route",
               413: "the request body is too large"}.get(status, str(exc.detail) if status < 500 else "internal error")
    if status == 404 and _debug_routes_off(request):
        message = DEBUG_ROUTES_OFF
    headers = dict(exc.headers or {}) or None
    return envelope(status, code, message, None, headers)


def internal_error_handler(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    logger.error("unhandled error", exc_info=exc, extra={"event": "internal_error", "path": request.url.path})
    return envelope(500, "internal_error", "internal error", None)


EXCEPTION_HANDLERS = {
    DomainError: domain_error_handler,
    ValidationException: validation_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
