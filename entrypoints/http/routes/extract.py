"""POST /v1/extract (SPEC §6.2)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from application.extract import Extractor
from application.extract_types import DebugOverrides, ExtractCommand, ExtractResult
from application.job_results import extract_response
from application.jobs import JobService
from application.request_context import current_request_id
from domain.auth import Principal, Scope, require_scopes
from domain.errors import ValidationFailedError
from domain.ids import new_id
from domain.jobs import JobKind
from entrypoints.http.accepted import accepted, fingerprint, idempotency_key
from entrypoints.http.openapi import ACCEPTED_HEADERS, AUTH, KEY, JobOperation, errors
from entrypoints.http.schemas import ExtractIn, ExtractOut, JobAcceptedOut


@post("/v1/extract", tags=["extract"], summary="Extract structured data from one image", status_code=200,
      responses=errors(400, *AUTH, 404, 409, 413, 415, 422, 503), security=KEY)
async def extract(request: Request, data: JSONBody[ExtractIn], principal: NamedDependency[Principal], extractor: NamedDependency[Extractor]) -> ExtractOut:
    require_scopes(principal, Scope.EXTRACT_RUN)
    _exactly_one_image(data)
    request_id = data.request_id or current_request_id.get()
    current_request_id.set(request_id)  # one call, one id: the body's id names the logs and the artifact
    result = await extractor.run(to_command(data, request_id), principal)
    services = request.app.state.services
    show_raw = services.settings.debug_mode and principal.has_scope(Scope.DEBUG_READ_RAW)
    return to_out(result, include_raw=show_raw)


def _exactly_one_image(data: ExtractIn) -> None:
    if (data.image_base64 is None) == (data.image_ref is None):
        raise ValidationFailedError("give exactly one of image_base64 or image_ref", details={"errors": [
            {"path": "$.image_base64", "message": "exactly one of image_base64 or image_ref is required"}]})


def to_command(data: ExtractIn, request_id: str) -> ExtractCommand:
    debug = None
    if data.debug is not None:
        debug = DebugOverrides(**msgspec.structs.asdict(data.debug))
    return ExtractCommand(task_id=data.task_id, request_id=request_id, mime_type=data.mime_type,
                          image_base64=data.image_base64, image_ref=data.image_ref, debug=debug)


def to_out(result: ExtractResult, *, include_raw: bool) -> ExtractOut:
    body: dict[str, Any] = extract_response(result)
    if not include_raw:
        body["raw"] = None
    return msgspec.convert(body, ExtractOut)


@post("/v1/extract_async", tags=["extract"], summary="Extract as a job (202)", status_code=202,
      responses=errors(400, *AUTH, 404, 409, 413, 415, 422, 503), security=KEY, response_headers=ACCEPTED_HEADERS,
      operation_class=JobOperation)
async def extract_async(request: Request, data: JSONBody[ExtractIn], principal: NamedDependency[Principal],
                        extractor: NamedDependency[Extractor],
                        jobs: NamedDependency[JobService]) -> Response[JobAcceptedOut]:
    require_scopes(principal, Scope.EXTRACT_RUN)
    _exactly_one_image(data)
    key, digest = idempotency_key(request), fingerprint(data)
    if key and (existing := await jobs.replay(principal, key, digest)):
        return accepted(existing)
    request_id = data.request_id or new_id()
    job_request = await extractor.prepare_async(to_command(data, request_id), principal)
    job = await jobs.submit(kind=JobKind.EXTRACT, request=job_request, principal=principal, total=1,
                            idempotency_key=key, fingerprint=digest)
    return accepted(job)
