"""The stored result body of an extract, as the HTTP response would carry it."""

from __future__ import annotations

from typing import Any

import msgspec

from application.extract_types import ExtractResult
from domain.ids import format_ts


def extract_response(result: ExtractResult) -> dict[str, Any]:
    body = msgspec.structs.asdict(result)
    body.pop("input_ref", None)
    body["created_at"] = format_ts(result.created_at)
    body["error"] = msgspec.structs.asdict(result.error) if result.error else None
    return body
