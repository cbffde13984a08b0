"""Documenting the error envelope on every route of the OpenAPI schema."""

from __future__ import annotations

from litestar.openapi.datastructures import ResponseSpec

from entrypoints.http.schemas import ErrorOut

_DESCRIPTIONS = {
    400: "Bad request", 401: "Missing or invalid API key", 403: "Missing scope", 404: "Not found",
    409: "Conflict", 413: "Payload too large", 415: "Unsupported media type", 422: "Validation error",
    500: "Internal error", 502: "Upstream error", 503: "Unavailable", 504: "Upstream timeout",
}


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    return {s: ResponseSpec(data_container=ErrorOut, description=_DESCRIPTIONS[s]) for s in (*statuses, 500)}


AUTH = (401, 403)
