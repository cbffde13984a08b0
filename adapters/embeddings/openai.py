"""``Embedder`` over an OpenAI-compatible ``/embeddings`` API (SPEC §9.3–9.4, ADR 0070).

Works against OpenAI, vLLM and llama.cpp's servers (llama-server and llama-cpp-python answer
the same ``{data: [{index, embedding}], usage}`` shape). Texts go in batches of ``batch_size``
(one call for typical requests); each batch is retried on its own; vectors come back in input
order, sorted by ``index`` because the order of ``data`` is not promised.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from adapters.openai_http.transport import Exchange, Failure, RetryPolicy, malformed, port_error
from application.ports.chat import ModelCall, TokenUsage
from application.ports.embeddings import Embeddings

logger = logging.getLogger("ocr.site")


class MalformedEmbeddings(ValueError):
    pass


class OpenAIEmbedder:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str = "",
        batch_size: int = 256,
        retry_max_attempts: int = 3,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        retry_after_max_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._exchange = Exchange(
            http, base_url=base_url, api_key=api_key, logger=logger, event="embeddings_call"
        )
        self._retry = RetryPolicy(
            max_attempts=retry_max_attempts,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            retry_after_max_s=retry_after_max_s,
            sleep=sleep,
            rng=rng,
        )
        self._batch_size = max(1, batch_size)

    @property
    def base_url(self) -> str:
        return self._exchange.base_url

    async def embed(
        self, texts: list[str], *, model: str, request_id: str | None = None
    ) -> Embeddings:
        calls: list[ModelCall] = []
        vectors: list[list[float]] = []
        answered, tokens = model, 0
        for start in range(0, len(texts), self._batch_size):
            batch = texts[start : start + self._batch_size]
            payload = await self._batch(batch, model, request_id, calls)
            batch_tokens = _prompt_tokens(payload)
            try:
                batch_vectors = _vectors(payload, len(batch))
            except MalformedEmbeddings as exc:
                calls.append(_call(model, batch_tokens, ok=False))
                raise port_error(malformed(200, str(exc)), calls) from None
            if vectors and len(batch_vectors[0]) != len(vectors[0]):
                calls.append(_call(model, batch_tokens, ok=False))
                raise port_error(malformed(200, "dimension changed between batches"), calls)
            answered = _model(payload, model)
            calls.append(_call(answered, batch_tokens, ok=True))
            vectors.extend(batch_vectors)
            tokens += batch_tokens
        return Embeddings(
            vectors=vectors, model=answered, input_tokens=tokens, calls=tuple(calls)
        )

    async def _batch(
        self, batch: list[str], model: str, request_id: str | None, calls: list[ModelCall]
    ) -> dict[str, Any]:
        # OpenAI refuses empty strings in ``input``; a space embeds to "nothing in particular".
        body = {"model": model, "input": [text if text.strip() else " " for text in batch]}
        failed = 0
        while True:
            log = {"model": model, "attempt": failed + 1, "inputs": len(batch)}
            payload = await self._exchange.send(
                "POST", "/embeddings", body=body, request_id=request_id, log=log
            )
            if not isinstance(payload, Failure) and not isinstance(payload, dict):
                payload = malformed(200, "body is not a JSON object")
            if not isinstance(payload, Failure):
                return payload
            calls.append(_call(model, 0, ok=False))
            failed += 1
            if not await self._retry.again(payload, failed):
                raise port_error(payload, calls)


def _call(model: str, tokens: int, *, ok: bool) -> ModelCall:
    return ModelCall(kind="embeddings", model=model, usage=TokenUsage(input_tokens=tokens), ok=ok)


def _model(payload: dict[str, Any], requested: str) -> str:
    model = payload.get("model")
    return model if isinstance(model, str) and model else requested


def _prompt_tokens(payload: dict[str, Any]) -> int:
    usage = payload.get("usage")
    value = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _vectors(payload: dict[str, Any], expected: int) -> list[list[float]]:
    data = payload.get("data")
    if not isinstance(data, list):
        raise MalformedEmbeddings("response has no data list")
    if len(data) != expected:
        raise MalformedEmbeddings(f"{len(data)} embeddings for {expected} inputs")
    by_index: dict[int, list[float]] = {}
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            raise MalformedEmbeddings("data item is not an object")
        index = item.get("index", position)
        vector = item.get("embedding")
        if not isinstance(index, int) or not 0 <= index < expected or index in by_index:
            raise MalformedEmbeddings("data indexes are not 0..n-1")
        if isinstance(vector, str):
            raise MalformedEmbeddings("base64 embeddings are not supported; ask for floats")
        if not isinstance(vector, list) or not vector:
            raise MalformedEmbeddings("embedding is not a list of numbers")
        if isinstance(vector[0], list):
            raise MalformedEmbeddings("per-token embeddings (server pooling is off)")
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in vector):
            raise MalformedEmbeddings("embedding holds non-numbers")
        by_index[index] = [float(x) for x in vector]
    dims = {len(v) for v in by_index.values()}
    if len(dims) > 1:
        raise MalformedEmbeddings("embeddings of different dimensions")
    return [by_index[i] for i in range(expected)]
