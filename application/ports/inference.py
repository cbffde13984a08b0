"""Inference port: one vision-language model call for one image (SPEC §6.4).

A model failure is an expected outcome of extraction (the HTTP answer is 200 with
``error`` set), so ``complete`` returns an ``InferenceOutcome`` carrying either the
model text or a failure, always with the attempt history. Only programming errors raise.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec


class InferenceRequest(msgspec.Struct, frozen=True, kw_only=True):
    request_id: str
    image: bytes
    mime_type: str
    prompt: str
    schema_name: str
    json_schema: dict[str, Any]
    temperature: float
    max_tokens: int
    source_name: str | None = None  # the input's file name in a batch, for logs and mock triggers


class AttemptFailure(msgspec.Struct, frozen=True, kw_only=True):
    """One failed attempt, as listed in ``error_history``."""

    attempt: int
    code: str
    http_status: int | None
    message: str


class InferenceFailure(msgspec.Struct, frozen=True, kw_only=True):
    """Final failure. ``code`` is one of upstream_error, upstream_timeout,
    upstream_unavailable, context_overflow."""

    code: str
    message: str
    retryable: bool
    http_status: int | None = None
    upstream_request_id: str | None = None  # the model server's own id for its answer, when it sent one


class InferenceOutcome(msgspec.Struct, frozen=True, kw_only=True):
    model_id: str
    text: str | None
    failure: InferenceFailure | None
    attempts: int
    error_history: tuple[AttemptFailure, ...] = ()
    resize_scale: float | None = None
    max_tokens_effective: int = 0


class InferenceClient(Protocol):
    @property
    def model_id(self) -> str: ...

    async def complete(self, request: InferenceRequest) -> InferenceOutcome:
        """Call the model, with retries; never raises for upstream faults."""
        ...

    async def ping(self) -> None:
        """Readiness probe; raises ``UpstreamUnavailableError`` when the model server is not reachable."""
        ...
