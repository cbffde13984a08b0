"""Reading the caller's API key from the request and turning it into a Principal."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from domain.auth import Principal
from domain.errors import UnauthenticatedError


def api_key_from_headers(request: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthenticatedError("malformed Authorization header; use 'Bearer <api_key>'", code="auth_invalid")
        return token.strip()
    key = request.headers.get("x-api-key")
    if key is not None:
        if not key.strip():
            raise UnauthenticatedError("empty X-API-Key header", code="auth_invalid")
        return key.strip()
    return None


async def provide_principal(request: Request) -> Principal:
    principal = request.scope.get("state", {}).get("principal")
    if isinstance(principal, Principal):
        return principal  # authenticated by the guard, before the body was read
    return await request.app.state.services.authenticator.authenticate(api_key_from_headers(request))


async def authenticate_first(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """A guard: Litestar runs guards before it reads and decodes a body, so a request without a
    valid key is a 401 before a byte of its (possibly huge) body is read (issue 12). Only routes
    that take the ``principal`` are guarded; health, readiness, metrics and the schema stay open."""
    if "principal" in handler.parsed_fn_signature.parameters:
        principal = await connection.app.state.services.authenticator.authenticate(api_key_from_headers(connection))
        connection.scope.setdefault("state", {})["principal"] = principal
