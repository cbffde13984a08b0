"""The stored form of one extract (SPEC §6.5): everything but the image and secrets."""

from __future__ import annotations

from typing import Any

import msgspec

from application.extract_types import ExtractFailure, ExtractResult
from domain.auth import Principal
from domain.ids import format_ts, parse_ts


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


def result_from_artifact(artifact: dict[str, Any]) -> ExtractResult:
    """The result an earlier call stored (a resumed batch reuses it; a repaired write returns it)."""
    error = artifact.get("error")
    given = artifact.get("input") or {}
    return ExtractResult(
        request_id=artifact["request_id"], created_at=parse_ts(artifact["created_at"]), task_id=artifact["task_id"],
        artifact_rel=artifact["artifact_rel"], model_id=artifact["model_id"], prompt_sha256=artifact["prompt_sha256"],
        schema_sha256=artifact["schema_sha256"], timings_ms=artifact["timings_ms"], parsed=artifact["parsed"],
        schema_valid=artifact["schema_valid"], schema_errors=artifact["schema_errors"], checks=artifact["checks"],
        error=None if error is None else msgspec.convert(error, ExtractFailure),
        error_history=artifact["error_history"], meta=artifact["meta"], raw=artifact["raw"],
        input_ref=given.get("input_ref") or given.get("image_ref"),
    )


def same_input(artifact: dict[str, Any], task_id: str, input_sha256: str) -> bool:
    """Was ``artifact`` made from this task and these image bytes? (Artifacts written before the
    input's digest was recorded match on the task alone.)"""
    given = artifact.get("input") or {}
    recorded = given.get("sha256")
    return artifact.get("task_id") == task_id and (recorded is None or recorded == input_sha256)
