"""Reading the caller's API key from the request and turning it into a Principal."""

from __future__ import annotations

from litestar import Request

from domain.auth import Principal
from domain.errors import UnauthenticatedError


def api_key_from_headers(request: Request) -> str | None:
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
    return await request.app.state.services.authenticator.authenticate(api_key_from_headers(request))
