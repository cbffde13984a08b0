"""POST /v1/extract (SPEC §6.2)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from application.extract import Extractor
from application.extract_types import DebugOverrides, ExtractCommand, ExtractResult
from application.request_context import current_request_id
from domain.auth import Principal, Scope, require_scopes
from domain.errors import ValidationFailedError
from domain.ids import format_ts
from entrypoints.http.openapi import AUTH, errors
from entrypoints.http.schemas import ExtractIn, ExtractOut


@post("/v1/extract", tags=["extract"], summary="Extract structured data from one image", status_code=200,
      responses=errors(400, *AUTH, 404, 409, 413, 415, 422, 503))
async def extract(request: Request, data: JSONBody[ExtractIn], principal: NamedDependency[Principal], extractor: NamedDependency[Extractor]) -> ExtractOut:
    require_scopes(principal, Scope.EXTRACT_RUN)
    if (data.image_base64 is None) == (data.image_ref is None):
        raise ValidationFailedError("give exactly one of image_base64 or image_ref", details={"errors": [
            {"path": "$.image_base64", "message": "exactly one of image_base64 or image_ref is required"}]})
    request_id = data.request_id or current_request_id.get()
    current_request_id.set(request_id)  # one call, one id: the body's id names the logs and the artifact
    result = await extractor.run(to_command(data, request_id), principal)
    services = request.app.state.services
    show_raw = services.settings.debug_mode and principal.has_scope(Scope.DEBUG_READ_RAW)
    return to_out(result, include_raw=show_raw)


def to_command(data: ExtractIn, request_id: str) -> ExtractCommand:
    debug = None
    if data.debug is not None:
        debug = DebugOverrides(**msgspec.structs.asdict(data.debug))
    return ExtractCommand(task_id=data.task_id, request_id=request_id, mime_type=data.mime_type,
                          image_base64=data.image_base64, image_ref=data.image_ref, debug=debug)


def to_out(result: ExtractResult, *, include_raw: bool) -> ExtractOut:
    body: dict[str, Any] = msgspec.structs.asdict(result)
    body.pop("input_ref", None)
    body["created_at"] = format_ts(result.created_at)
    body["error"] = msgspec.structs.asdict(result.error) if result.error else None
    body["raw"] = result.raw if include_raw else None
    return msgspec.convert(body, ExtractOut)
