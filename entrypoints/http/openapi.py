"""Documenting the error envelope on every route of the OpenAPI schema."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import ResponseHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
    SecurityScheme,
)

from domain.ids import ID_PATTERN
from entrypoints.http.schemas import ErrorOut

_DESCRIPTIONS = {
    400: "Bad request", 401: "Missing or invalid API key", 403: "Missing scope", 404: "Not found",
    409: "Conflict", 413: "Payload too large", 415: "Unsupported media type", 422: "Validation error",
    500: "Internal error", 502: "Upstream error", 503: "Unavailable", 504: "Upstream timeout",
}


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    return {s: ResponseSpec(data_container=ErrorOut, description=_DESCRIPTIONS[s]) for s in (*statuses, 500)}


AUTH = (401, 403)

# SPEC §4: the key goes in `Authorization: Bearer <api_key>` or in `X-API-Key`; either will do.
SECURITY_COMPONENTS = Components(security_schemes={
    "bearer": SecurityScheme(type="http", scheme="bearer", description="Authorization: Bearer <api_key>"),
    "api_key": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
})
KEY = [{"bearer": []}, {"api_key": []}]


def _id_schema(description: str | None = None) -> Schema:
    """A form field holding a SPEC §4 id, or empty (as a form sends a field left blank: absent).
    The "no '..'" rule is spelled as a second pattern rather than the `not` of the JSON schemas:
    schemathesis cannot check a `not` inside a form that carries files (its validator rejects the
    binary parts)."""
    an_id = Schema(pattern=ID_PATTERN.pattern, all_of=[Schema(pattern=r"^(?:[^.]|\.[^.])*\.?$")])
    return Schema(type=OpenAPIType.STRING, any_of=[Schema(max_length=0), an_id], description=description)


# The spellings a form's boolean may take, in any case (a form field has no JSON type).
_FORM_BOOLEAN = "^(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0|[Yy][Ee][Ss]|[Nn][Oo]|[Oo][Nn]|[Oo][Ff][Ff])?$"


def _upload_form_schema() -> Schema:
    return Schema(
        type=OpenAPIType.OBJECT, required=["task_id", "files"],
        properties={
            "task_id": Schema(type=OpenAPIType.STRING),
            "files": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY),
                            min_items=1, description="repeated; at most MAX_BATCH_FILES, each at most MAX_IMAGE_BYTES"),
            "concurrency": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=64, default=4),
            "run_id": _id_schema(),
            "limit": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=100_000),
            "gt_id": _id_schema("evaluate the run against this ground truth"),
            "persist_inputs": Schema(type=OpenAPIType.STRING, default="true", pattern=_FORM_BOOLEAN,
                                     description="true/false, 1/0, yes/no or on/off in any case (empty: true); "
                                                 "sync endpoint only, async always persists"),
        },
    )


# A 202 job answer (SPEC §4): where to poll, and how soon.
ACCEPTED_HEADERS = [
    ResponseHeader(name="Location", documentation_only=True, description="the poll_url: /v1/jobs/<job_id>"),
    ResponseHeader(name="Retry-After", documentation_only=True, description="seconds before the first poll"),
]
_IDEMPOTENCY_KEY = Parameter(
    name="Idempotency-Key", param_in="header", required=False,
    schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=255),
    description="the same key and body from the same API key return the original job (24 h); "
                "the same key with another body is a 422")


ACCEPTED_DESCRIPTION = (
    "The job: `{job_id, status, poll_url}`. `status` is `queued` (accepted, not started yet) or `running` "
    "(work already started, as for an upload whose items start while its body arrives); poll `poll_url` "
    "for progress and the final status.")


def _describe_accepted(operation: Operation) -> None:
    accepted = (operation.responses or {}).get("202")
    if accepted is not None and hasattr(accepted, "description"):
        accepted.description = ACCEPTED_DESCRIPTION


@dataclass
class JobOperation(Operation):
    """An async (202) endpoint: it reads the Idempotency-Key header by hand, so it is declared here."""

    def __post_init__(self) -> None:
        self.parameters = [*(self.parameters or []), _IDEMPOTENCY_KEY]
        _describe_accepted(self)


@dataclass
class UploadOperation(Operation):
    """The upload body is streamed by hand (never buffered), so Litestar cannot infer it."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True, content={"multipart/form-data": OpenAPIMediaType(schema=_upload_form_schema())})


@dataclass
class UploadJobOperation(UploadOperation):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.parameters = [*(self.parameters or []), _IDEMPOTENCY_KEY]
        _describe_accepted(self)


def _ground_truth_schema() -> Schema:
    records = Schema(
        type=OpenAPIType.ARRAY, min_items=1, max_items=100_000,
        items=Schema(type=OpenAPIType.OBJECT, required=["file"], properties={
            "file": Schema(type=OpenAPIType.STRING, pattern=r"\S",
                           description="the image, matched to batch items by basename (unique within the file)"),
        }, description="the expected fields at top level next to `file`"),
    )
    items = Schema(type=OpenAPIType.OBJECT, required=["items"], properties={"items": records})
    return Schema(one_of=[records, items], description='an array of records or {"items": [...]}')


def _ground_truth_body(*, named: bool) -> RequestBody:
    form = {"file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY,
                           description="the ground truth as a JSON file")}
    if named:
        form |= {"gt_id": _id_schema("wins over the query's gt_id"),
                 "name": Schema(type=OpenAPIType.STRING, description="wins over the query's name")}
    return RequestBody(required=True, content={
        "application/json": OpenAPIMediaType(schema=_ground_truth_schema()),
        "multipart/form-data": OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT, required=["file"],
                                                              properties=form)),
    })


@dataclass
class GroundTruthCreateOperation(Operation):
    """The body is JSON or a multipart `file`, read by hand, so Litestar cannot infer it."""

    def __post_init__(self) -> None:
        self.request_body = _ground_truth_body(named=True)


@dataclass
class GroundTruthReplaceOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = _ground_truth_body(named=False)
