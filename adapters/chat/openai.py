"""``ChatModel`` over an OpenAI-compatible chat-completions API (SPEC §9, ADR 0070).

Every HTTP attempt, failed ones included, becomes a ``ModelCall`` so the request's cost shows
everything that was billed; the final error carries them in ``details["calls"]``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from adapters.chat.params import SamplingParams
from adapters.chat.wire import MalformedResponse, answered_model, message_text, usage_of
from adapters.openai_http.transport import (
    Exchange,
    Failure,
    RetryPolicy,
    malformed,
    port_error,
)
from application.ports.chat import ChatMessage, ChatReply, ModelCall, TokenUsage
from domain.errors import UpstreamUnavailableError

logger = logging.getLogger("ocr.site")


class OpenAIChatModel:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str = "",
        retry_max_attempts: int = 3,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        retry_after_max_s: float = 30.0,
        temperature: float | None = 0.0,
        max_tokens: int | None = None,
        ping_timeout_s: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._exchange = Exchange(
            http, base_url=base_url, api_key=api_key, logger=logger, event="chat_call"
        )
        self._retry = RetryPolicy(
            max_attempts=retry_max_attempts,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            retry_after_max_s=retry_after_max_s,
            sleep=sleep,
            rng=rng,
        )
        self._params = SamplingParams(temperature=temperature, max_tokens=max_tokens)
        self._ping_timeout = ping_timeout_s

    @property
    def base_url(self) -> str:
        return self._exchange.base_url

    def refused_parameters(self, model: str) -> frozenset[str]:
        """Parameters this model answered 400 to, which later calls no longer send."""
        return self._params.refused(model)

    async def complete(
        self, messages: list[ChatMessage], *, model: str, request_id: str | None = None
    ) -> ChatReply:
        calls: list[ModelCall] = []
        failed = 0
        while True:
            params = self._params.for_model(model)
            body: dict[str, Any] = {
                "model": model,
                "messages": [{"role": m.role, "content": m.content} for m in messages],
                **params,
            }
            log = {"model": model, "attempt": len(calls) + 1}
            payload = await self._exchange.send(
                "POST", "/chat/completions", body=body, request_id=request_id, log=log
            )
            if isinstance(payload, Failure):
                calls.append(_call(model, TokenUsage(), ok=False))
                dropped = self._params.learn(model, payload, params)
                if dropped is not None:
                    logger.info(
                        "chat parameter refused",
                        extra={"event": "chat_param_dropped", "model": model, "param": dropped,
                               "request_id": request_id},
                    )
                    continue  # a changed request, not a transient failure: no wait, no budget
                failed += 1
                if await self._retry.again(payload, failed):
                    continue
                raise port_error(payload, calls)
            usage = usage_of(payload)
            answered = answered_model(payload, model)
            try:
                text = message_text(payload)
            except MalformedResponse as exc:
                # The tokens were spent even though the answer is unusable.
                calls.append(_call(answered, usage, ok=False))
                raise port_error(malformed(200, str(exc)), calls) from None
            calls.append(_call(answered, usage, ok=True))
            return ChatReply(text=text, model=answered, usage=usage, calls=tuple(calls))

    async def ping(self) -> None:
        result = await self._exchange.send(
            "GET", "/models", log={"purpose": "ping"}, timeout=self._ping_timeout
        )
        if isinstance(result, Failure):
            raise UpstreamUnavailableError(
                f"chat model server not ready: {result.message}", retryable=True
            )


def _call(model: str, usage: TokenUsage, *, ok: bool) -> ModelCall:
    return ModelCall(kind="chat", model=model, usage=usage, ok=ok)
