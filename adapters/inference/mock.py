"""Deterministic ``InferenceClient`` without network (SPEC §6.4, mock backend).

The answer is one of a small per-schema pool of schema-valid samples (``POOL_SIZE``, made
lazily by ``sample_for_schema`` with seeds "0".."15"), picked by a stable hash of the request
id, so the same request gives the same answer. Request-id prefixes drive the failure paths tests and demos need:

* ``mock_fail_json``     — text that is not JSON (and holds no ``{…}`` to recover);
* ``mock_fail_schema``   — a JSON object that violates the schema;
* ``mock_fail_upstream`` — an upstream 503 after ``max_attempts`` attempts, as the vLLM
  client would report it;
* ``mock_slow_<ms>``     — waits ``ms`` milliseconds, then answers normally.

Like a real model, an answer stops after ``max_tokens`` (about 4 characters a token).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from application.ports.inference import (
    AttemptFailure,
    InferenceFailure,
    InferenceOutcome,
    InferenceRequest,
)
from domain.receipts.samples import sample_for_schema
from domain.receipts.validation import schema_key, validator_for

logger = logging.getLogger("ocr.inference")

NOT_JSON = "Sorry, I could not read this receipt clearly."
MAX_SLOW_MS = 600_000
_SLOW = re.compile(r"^mock_slow_(\d+)")
_UPSTREAM_MESSAGE = "HTTP 503: mock upstream unavailable"
POOL_SIZE = 16
# A real model stops after max_tokens tokens (finish_reason "length"); about 4 characters each.
CHARS_PER_TOKEN = 4
_MAX_POOLS = 64
# canonical schema JSON -> POOL_SIZE answer texts (JSON), filled lazily per sample.
_POOLS: dict[str, list[str | None]] = {}


def _sample_text(schema: dict[str, Any], seed: str) -> str:
    """The pooled sample for ``seed``: stable across processes (sha256, not ``hash``)."""
    slot = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big") % POOL_SIZE
    key = schema_key(schema)
    pool = _POOLS.get(key)
    if pool is None:
        if len(_POOLS) >= _MAX_POOLS:
            _POOLS.clear()
        pool = _POOLS.setdefault(key, [None] * POOL_SIZE)
    text = pool[slot]
    if text is None:
        text = json.dumps(sample_for_schema(schema, seed=str(slot)), ensure_ascii=False)
        pool[slot] = text
    return text


def _schema_violation(schema: dict[str, Any]) -> Any:
    """The first of a few JSON values the schema rejects (an object when possible)."""
    validator = validator_for(schema)
    candidates: list[Any] = [{"unexpected": True}, {}, [{"unexpected": True}], "unexpected", 0]
    for candidate in candidates:
        if not validator.is_valid(candidate):
            return candidate
    return candidates[0]


def _trigger(request: InferenceRequest) -> str:
    name = (request.source_name or "").replace("\\", "/").rsplit("/", 1)[-1]
    return name if name.startswith("mock_") else request.request_id


class MockInferenceClient:
    def __init__(
        self,
        model_id: str = "mock",
        *,
        max_attempts: int = 3,
        latency_ms: int = 0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._model_id = model_id
        self._max_attempts = max(1, max_attempts)
        self._latency_s = max(0, latency_ms) / 1000
        self._sleep = sleep

    @property
    def model_id(self) -> str:
        return self._model_id

    async def ping(self) -> None:
        return None

    async def complete(self, request: InferenceRequest) -> InferenceOutcome:
        # Same events as the real client, so dashboards and log tests work on the mock backend.
        log = {"model": self._model_id, "attempt": 1, "request_id": request.request_id}
        logger.info("inference call", extra={"event": "inference_call_start", **log})
        started = time.perf_counter()
        outcome = await self._answer(request)
        duration_ms = int((time.perf_counter() - started) * 1000)
        if outcome.failure is None:
            extra = {"event": "inference_call_end", **log, "status": 200}
            logger.info("inference call done", extra={**extra, "duration_ms": duration_ms})
        else:
            extra = {"event": "inference_call_error", **log, "attempt": outcome.attempts}
            extra |= {"status": outcome.failure.http_status, "code": outcome.failure.code}
            logger.warning("inference call failed", extra={**extra, "duration_ms": duration_ms})
        return outcome

    async def _answer(self, request: InferenceRequest) -> InferenceOutcome:
        # Triggers come from the request id or, for batch items (whose ids are hashes), the file name.
        rid = _trigger(request)
        if self._latency_s:
            await self._sleep(self._latency_s)
        if rid.startswith("mock_fail_upstream"):
            return self._upstream_failure(request)
        slow = _SLOW.match(rid)
        if slow:
            await self._sleep(min(int(slow.group(1)), MAX_SLOW_MS) / 1000)
        if rid.startswith("mock_fail_json"):
            text = NOT_JSON
        elif rid.startswith("mock_fail_schema"):
            text = json.dumps(_schema_violation(request.json_schema))
        else:
            text = _sample_text(request.json_schema, rid)
        limit = max(1, request.max_tokens) * CHARS_PER_TOKEN
        if len(text) > limit:  # cut where a real model would stop: usually no longer valid JSON
            text = text[:limit]
        return InferenceOutcome(
            model_id=self._model_id,
            text=text,
            failure=None,
            attempts=1,
            max_tokens_effective=request.max_tokens,
        )

    def _upstream_failure(self, request: InferenceRequest) -> InferenceOutcome:
        history = tuple(
            AttemptFailure(
                attempt=n, code="upstream_unavailable", http_status=503, message=_UPSTREAM_MESSAGE
            )
            for n in range(1, self._max_attempts + 1)
        )
        return InferenceOutcome(
            model_id=self._model_id,
            text=None,
            failure=InferenceFailure(
                code="upstream_unavailable",
                message=_UPSTREAM_MESSAGE,
                retryable=True,
                http_status=503,
            ),
            attempts=self._max_attempts,
            error_history=history,
            max_tokens_effective=request.max_tokens,
        )
