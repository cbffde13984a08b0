"""``InferenceClient`` over vLLM's OpenAI-compatible server (SPEC §6.4, ADR 0020).

Every upstream fault ends as an ``InferenceOutcome`` with a failure and the full attempt
history; only programming errors raise. Messages kept in the history are scrubbed of the API
key and of image data and truncated, because they reach artifacts and API responses.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import msgspec

from adapters.inference.images import resize_image
from adapters.inference.openai_wire import (
    MalformedResponse,
    ResponseFormatStyle,
    chat_body,
    error_message,
    message_text,
    normalise_base_url,
    scrub,
)
from adapters.inference.retry import Backoff, classify_exception, classify_status, parse_retry_after
from application.ports.inference import (
    AttemptFailure,
    InferenceFailure,
    InferenceOutcome,
    InferenceRequest,
)
from domain.errors import UpstreamUnavailableError
from domain.receipts.context_overflow import (
    MAX_OVERFLOW_RETRIES,
    Overflow,
    next_scale,
    parse_overflow,
)

logger = logging.getLogger("ocr.inference")

_OVERFLOW_STATUSES = frozenset({400, 413, 422})


def build_http_client(
    connect_timeout: float,
    read_timeout: float,
    write_timeout: float,
    pool_timeout: float,
    max_connections: int,
    max_keepalive: int,
    keepalive_expiry: float,
) -> httpx.AsyncClient:
    """The one shared client per process; the composition root owns and closes it."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=write_timeout, pool=pool_timeout
        ),
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive,
            keepalive_expiry=keepalive_expiry,
        ),
    )


class _Failed(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str
    http_status: int | None = None
    retry: bool = False
    retryable: bool = False
    retry_after: float | None = None
    overflow: Overflow | None = None


class VllmInferenceClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        retry_max_attempts: int = 3,
        max_model_len: int = 4096,
        max_tokens_limit: int = 8192,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        retry_after_max_s: float = 30.0,
        response_format_style: ResponseFormatStyle = "json_schema",
        ping_timeout_s: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if response_format_style not in ("json_schema", "json_object"):
            raise ValueError(f"unknown response_format_style {response_format_style!r}")
        self._http = http
        self._base = normalise_base_url(base_url)
        self._model = model
        self._api_key = api_key or ""
        self._max_attempts = max(1, retry_max_attempts)
        self._max_model_len = max_model_len
        self._max_tokens_limit = max(1, max_tokens_limit)
        self._style: ResponseFormatStyle = response_format_style
        self._ping_timeout = ping_timeout_s
        self._sleep = sleep
        self._backoff = Backoff(
            base_s=backoff_base_s, max_s=backoff_max_s, retry_after_max_s=retry_after_max_s, rng=rng
        )

    @property
    def model_id(self) -> str:
        return self._model

    @property
    def base_url(self) -> str:
        return self._base

    def _headers(self, request_id: str | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        if request_id:
            headers["X-Request-ID"] = request_id
        return headers

    async def complete(self, request: InferenceRequest) -> InferenceOutcome:
        max_tokens = max(1, min(request.max_tokens, self._max_tokens_limit))
        image, scale = request.image, 1.0
        history: list[AttemptFailure] = []
        transient = shrinks = 0

        def done(text: str | None, failure: InferenceFailure | None) -> InferenceOutcome:
            return InferenceOutcome(
                model_id=self._model,
                text=text,
                failure=failure,
                attempts=len(history) + (1 if failure is None else 0),
                error_history=tuple(history),
                resize_scale=None if scale == 1.0 else round(scale, 6),
                max_tokens_effective=max_tokens,
            )

        while True:
            attempt = len(history) + 1
            result = await self._attempt(request, image, max_tokens, attempt)
            if isinstance(result, str):
                return done(result, None)
            history.append(
                AttemptFailure(
                    attempt=attempt,
                    code=result.code,
                    http_status=result.http_status,
                    message=result.message,
                )
            )
            final = InferenceFailure(
                code=result.code,
                message=result.message,
                retryable=result.retryable,
                http_status=result.http_status,
            )
            if result.overflow is not None:
                if shrinks >= MAX_OVERFLOW_RETRIES:
                    return done(None, final)
                shrinks += 1
                scale = next_scale(
                    scale, result.overflow, max_model_len=self._max_model_len, max_tokens=max_tokens
                )
                smaller = await self._shrink(request, scale)
                if smaller is None or smaller == image:
                    # Already at the minimum size (or not decodable): another try cannot fit.
                    return done(None, final)
                image = smaller
                continue
            transient += 1
            if not result.retry or transient >= self._max_attempts:
                return done(None, final)
            await self._sleep(self._backoff.delay(transient, result.retry_after))

    async def _shrink(self, request: InferenceRequest, scale: float) -> bytes | None:
        try:
            return await asyncio.to_thread(resize_image, request.image, scale, request.mime_type)
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for undecodable input
            logger.warning(
                "image resize failed",
                extra={
                    "event": "inference_resize_error",
                    "model": self._model,
                    "error": type(exc).__name__,
                },
            )
            return None

    async def _attempt(
        self, request: InferenceRequest, image: bytes, max_tokens: int, attempt: int
    ) -> str | _Failed:
        body = chat_body(
            model=self._model,
            prompt=request.prompt,
            image=image,
            mime_type=request.mime_type,
            temperature=request.temperature,
            max_tokens=max_tokens,
            schema_name=request.schema_name,
            schema=request.json_schema,
            style=self._style,
        )
        log: dict[str, Any] = {
            "model": self._model,
            "attempt": attempt,
            "request_id": request.request_id,
        }
        logger.info("inference call", extra={"event": "inference_call_start", **log})
        started = time.perf_counter()
        try:
            response = await self._http.post(
                f"{self._base}/chat/completions",
                content=msgspec.json.encode(body),
                headers=self._headers(request.request_id),
            )
        except httpx.HTTPError as exc:
            kind = classify_exception(exc)
            detail = scrub(str(exc), secrets=(self._api_key,))
            failed = _Failed(
                code=kind.code,
                message=f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__,
                retry=kind.retry,
                retryable=kind.retryable,
            )
            return self._log_failure(failed, log, started)
        status = response.status_code
        if 200 <= status < 300:
            try:
                text = message_text(response.json())
            except (ValueError, MalformedResponse) as exc:
                reason = str(exc) if isinstance(exc, MalformedResponse) else "body is not JSON"
                failed = _Failed(
                    code="upstream_error",
                    http_status=status,
                    message=scrub(f"malformed response: {reason}", secrets=(self._api_key,)),
                )
                return self._log_failure(failed, log, started)
            logger.info(
                "inference call done",
                extra={
                    "event": "inference_call_end",
                    **log,
                    "status": status,
                    "duration_ms": _ms(started),
                },
            )
            return text
        return self._log_failure(self._status_failure(response), log, started)

    def _status_failure(self, response: httpx.Response) -> _Failed:
        status = response.status_code
        raw = response.text
        try:
            payload = response.json()
        except ValueError:
            payload = None
        detail = error_message(payload, raw)
        message = scrub(f"HTTP {status}: {detail}", secrets=(self._api_key,))
        overflow = parse_overflow(detail) if status in _OVERFLOW_STATUSES else None
        if overflow is not None:
            return _Failed(
                code="context_overflow", http_status=status, message=message, overflow=overflow
            )
        kind = classify_status(status)
        retry_after = parse_retry_after(response.headers.get("retry-after")) if kind.retry else None
        return _Failed(
            code=kind.code,
            http_status=status,
            message=message,
            retry=kind.retry,
            retryable=kind.retryable,
            retry_after=retry_after,
        )

    def _log_failure(self, failed: _Failed, log: dict[str, Any], started: float) -> _Failed:
        logger.warning(
            "inference call failed",
            extra={
                "event": "inference_call_error",
                **log,
                "status": failed.http_status,
                "code": failed.code,
                "duration_ms": _ms(started),
            },
        )
        return failed

    async def ping(self) -> None:
        try:
            response = await self._http.get(
                f"{self._base}/models", headers=self._headers(), timeout=self._ping_timeout
            )
        except httpx.HTTPError as exc:
            raise UpstreamUnavailableError(
                f"model server not reachable: {type(exc).__name__}", retryable=True
            ) from None
        if not 200 <= response.status_code < 300:
            raise UpstreamUnavailableError(
                f"model server answered HTTP {response.status_code} to GET /models", retryable=True
            )


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
