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

from adapters.inference.failures import (
    AttemptError,
    Backoff,
    from_exception,
    from_response,
    malformed,
)
from adapters.inference.images import image_size, resize_image
from adapters.inference.openai_wire import (
    MalformedResponse,
    ResponseFormatStyle,
    chat_body,
    message_text,
    normalise_base_url,
)
from adapters.openai_http.aiohttp_transport import AiohttpTransport
from application.ports.inference import (
    AttemptFailure,
    InferenceFailure,
    InferenceOutcome,
    InferenceRequest,
)
from domain.errors import UpstreamUnavailableError
from domain.receipts.context_overflow import (
    MAX_OVERFLOW_RETRIES,
    next_scale,
)

logger = logging.getLogger("ocr.inference")


def build_http_client(
    connect_timeout: float,
    read_timeout: float,
    write_timeout: float,
    pool_timeout: float,
    max_connections: int,
    max_keepalive: int,
    keepalive_expiry: float,
    transport: str = "aiohttp",
) -> httpx.AsyncClient:
    """The one shared client per process; the composition root owns and closes it.

    The wire work goes through aiohttp (ADR 0009): it keeps every released connection (up to
    ``max_connections``) for ``keepalive_expiry`` seconds, so ``max_keepalive`` only applies
    to httpx's own transport, which ``transport="httpx"`` selects.
    """
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_keepalive,
                          keepalive_expiry=keepalive_expiry)
    timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout, write=write_timeout, pool=pool_timeout)
    if transport == "httpx":
        return httpx.AsyncClient(timeout=timeout, limits=limits)
    return httpx.AsyncClient(timeout=timeout, transport=AiohttpTransport(
        max_connections=max_connections, keepalive_expiry=keepalive_expiry))


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
        call_timeout_s: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if response_format_style not in ("json_schema", "json_object"):
            raise ValueError(f"unknown response_format_style {response_format_style!r}")
        self._http = http
        self._base = normalise_base_url(base_url)
        self._model = model
        self._api_key = api_key or ""
        self._secrets = (self._api_key,) if self._api_key else ()
        self._max_attempts = max(1, retry_max_attempts)
        self._max_model_len = max_model_len
        self._max_tokens_limit = max(1, max_tokens_limit)
        self._style: ResponseFormatStyle = response_format_style
        self._ping_timeout = ping_timeout_s
        # httpx's timeouts bound each gap between bytes; this bounds a whole attempt, so a
        # server trickling its answer cannot hold a call (and a concurrency slot) for ever.
        self._call_timeout = call_timeout_s
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
        image, scale, size = request.image, 1.0, None
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
                retryable=result.retry,
                http_status=result.http_status,
                upstream_request_id=result.upstream_request_id,
            )
            if result.overflow is not None:
                if shrinks >= MAX_OVERFLOW_RETRIES:
                    return done(None, final)
                shrinks += 1
                smaller_scale = next_scale(
                    scale, result.overflow, max_model_len=self._max_model_len, max_tokens=max_tokens
                )
                shrunk = await self._shrink(request, smaller_scale, size)
                if shrunk is None:
                    # Already at the minimum size (or not decodable): another try cannot fit.
                    return done(None, final)
                (image, size), scale = shrunk, smaller_scale
                continue
            transient += 1
            if not result.retry or transient >= self._max_attempts:
                return done(None, final)
            await self._sleep(self._backoff.delay(transient, result.retry_after))

    async def _shrink(
        self, request: InferenceRequest, scale: float, sent: tuple[int, int] | None
    ) -> tuple[bytes, tuple[int, int]] | None:
        """The original image at ``scale`` and its size; ``None`` when it would not get smaller."""

        def work() -> tuple[bytes, tuple[int, int]] | None:
            previous = sent or image_size(request.image)
            resized = resize_image(request.image, scale, request.mime_type)
            new_size = image_size(resized)
            return None if new_size == previous else (resized, new_size)

        try:
            return await asyncio.to_thread(work)
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
    ) -> str | AttemptError:
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
        deadline = asyncio.timeout(self._call_timeout)
        try:
            async with deadline:
                response = await self._http.post(
                    f"{self._base}/chat/completions",
                    content=msgspec.json.encode(body),
                    headers=self._headers(request.request_id),
                )
        except httpx.HTTPError as exc:
            return self._log_failure(from_exception(exc, secrets=self._secrets), log, started)
        except TimeoutError:
            if not deadline.expired():
                raise
            message = f"call deadline exceeded: no complete answer within {self._call_timeout:g}s"
            failed = AttemptError(code="upstream_timeout", message=message, retry=True)
            return self._log_failure(failed, log, started)
        status = response.status_code
        if not 200 <= status < 300:
            return self._log_failure(from_response(response, secrets=self._secrets), log, started)
        try:
            text = message_text(msgspec.json.decode(response.content))
        except MalformedResponse as exc:
            return self._log_failure(malformed(status, str(exc)), log, started)
        except ValueError:
            return self._log_failure(malformed(status, "body is not JSON"), log, started)
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

    def _log_failure(
        self, failed: AttemptError, log: dict[str, Any], started: float
    ) -> AttemptError:
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
