"""The stored form of one extract (SPEC §6.5): everything but the image and secrets."""

from __future__ import annotations

from typing import Any

import msgspec

from application.extract_types import ExtractResult
from domain.auth import Principal
from domain.ids import format_ts


def build_artifact(
    result: ExtractResult, principal: Principal, input_info: dict[str, Any], *, temperature: float, max_tokens: int
) -> dict[str, Any]:
    return {
        "request_id": result.request_id,
        "created_at": format_ts(result.created_at),
        "task_id": result.task_id,
        "auth": {"key_id": principal.key_id, "role": principal.role},
        "input": input_info,
        "model_id": result.model_id,
        "prompt_sha256": result.prompt_sha256,
        "schema_sha256": result.schema_sha256,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "timings_ms": result.timings_ms,
        "raw": result.raw,
        "parsed": result.parsed,
        "schema_valid": result.schema_valid,
        "schema_errors": result.schema_errors,
        "checks": result.checks,
        "error": msgspec.structs.asdict(result.error) if result.error else None,
        "error_history": result.error_history,
        "meta": result.meta,
        "artifact_rel": result.artifact_rel,
    }
