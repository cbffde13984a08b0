"""Documenting the error envelope on every route of the OpenAPI schema."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)

from entrypoints.http.schemas import ErrorOut

_DESCRIPTIONS = {
    400: "Bad request", 401: "Missing or invalid API key", 403: "Missing scope", 404: "Not found",
    409: "Conflict", 413: "Payload too large", 415: "Unsupported media type", 422: "Validation error",
    500: "Internal error", 502: "Upstream error", 503: "Unavailable", 504: "Upstream timeout",
}


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    return {s: ResponseSpec(data_container=ErrorOut, description=_DESCRIPTIONS[s]) for s in (*statuses, 500)}


AUTH = (401, 403)


def _upload_form_schema() -> Schema:
    return Schema(
        type=OpenAPIType.OBJECT, required=["task_id", "files"],
        properties={
            "task_id": Schema(type=OpenAPIType.STRING),
            "files": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY),
                            description="repeated; at most MAX_BATCH_FILES, each at most MAX_IMAGE_BYTES"),
            "concurrency": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=64, default=4),
            "run_id": Schema(type=OpenAPIType.STRING, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"),
            "limit": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=100_000),
            "gt_id": Schema(type=OpenAPIType.STRING, description="evaluate the run against this ground truth"),
            "persist_inputs": Schema(type=OpenAPIType.BOOLEAN, default=True,
                                     description="sync endpoint only; async always persists"),
        },
    )


@dataclass
class UploadOperation(Operation):
    """The upload body is streamed by hand (never buffered), so Litestar cannot infer it."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True, content={"multipart/form-data": OpenAPIMediaType(schema=_upload_form_schema())})
