"""Values the extract use case takes and returns (application-level, not wire schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class DebugOverrides(msgspec.Struct, frozen=True, kw_only=True):
    prompt_override: str | None = None
    schema_override: dict[str, Any] | None = None
    temperature: float | None = None
    max_tokens: int | None = None


class ExtractCommand(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    request_id: str
    mime_type: str = "image/jpeg"
    image_base64: str | None = None
    image_ref: str | None = None
    image_bytes: bytes | None = None  # CLI and batches hand over bytes they already hold
    input_ref: str | None = None  # the stored input the bytes came from, recorded in the artifact
    source_name: str | None = None  # the file name of a batch item
    debug: DebugOverrides | None = None
    # A batch item or a job: the caller owns this id's work, so a pending claim left by its
    # earlier attempt is taken over, and an artifact already written for the same input is
    # the result (a resumed job reuses what finished, ADR 0052) instead of a 409.
    owned: bool = False


class ExtractFailure(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str
    retryable: bool
    details: dict[str, Any] = {}


class ExtractResult(msgspec.Struct, frozen=True, kw_only=True):
    request_id: str
    created_at: datetime
    task_id: str
    artifact_rel: str
    model_id: str
    prompt_sha256: str
    schema_sha256: str
    timings_ms: dict[str, int]
    parsed: dict[str, Any] | None
    schema_valid: bool
    schema_errors: list[dict[str, str]] | None
    checks: list[dict[str, Any]]
    error: ExtractFailure | None
    error_history: list[dict[str, Any]] | None
    meta: dict[str, Any]
    raw: str | None
    input_ref: str | None = None
