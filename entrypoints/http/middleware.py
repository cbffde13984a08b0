"""Request id (SPEC §4) and request_start/request_end logs, as plain ASGI middleware."""

from __future__ import annotations

import logging
import time
from typing import Any

from application.request_context import current_request_id
from domain.ids import is_valid_id, new_id

logger = logging.getLogger("ocr.http")


class RequestContextMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and is_valid_id(given) else new_id()
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}
        method, path = scope.get("method", ""), scope.get("path", "")
        logger.info("request start", extra={"event": "request_start", "method": method, "path": path})

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", current_request_id.get().encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            logger.info("request end", extra={
                "event": "request_end", "method": method, "path": path, "status": status_holder["status"],
                "duration_ms": round(duration * 1000, 2),
            })
            _record(scope, method, status_holder["status"], duration)
            current_request_id.reset(token)


def _record(scope: dict[str, Any], method: str, status: int, duration_s: float) -> None:
    """HTTP metrics by route TEMPLATE (bounded labels); unknown routes share one label."""
    app = scope.get("app")
    services = getattr(getattr(app, "state", None), "services", None)
    if services is not None:
        services.telemetry.http_request(method, scope.get("path_template") or "unmatched", status, duration_s)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            try:
                return value.decode("ascii")
            except UnicodeDecodeError:
                return None
    return None
