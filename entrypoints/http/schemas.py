"""Wire schemas: the HTTP contract of SPEC §4–§8 (``In`` = request, ``Out`` = response)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar.params import PathParameter, QueryParameter

from domain.days import DAY_PATTERN
from domain.ids import ID_PATTERN

# SPEC §4 ids: the pattern, and no "..", which the use cases refuse (400) before any storage path.
_NO_DOUBLE_DOT = {"not": {"pattern": r"\.\."}}
IdStr = Annotated[str, msgspec.Meta(pattern=ID_PATTERN.pattern, extra_json_schema={"extra": _NO_DOUBLE_DOT})]
PathId = Annotated[str, PathParameter(pattern=ID_PATTERN.pattern, schema_extra=_NO_DOUBLE_DOT)]
QueryId = Annotated[str | None, QueryParameter(pattern=ID_PATTERN.pattern, schema_extra=_NO_DOUBLE_DOT)]
Cursor = Annotated[str | None, QueryParameter(
    description="opaque: the previous page's next_cursor; absent or empty for the first page")]


class ErrorBodyOut(msgspec.Struct):
    code: str
    message: str
    request_id: str | None
    details: dict[str, Any]


class ErrorOut(msgspec.Struct):
    error: ErrorBodyOut


class DebugIn(msgspec.Struct, forbid_unknown_fields=True):
    prompt_override: Annotated[str, msgspec.Meta(min_length=1, max_length=100_000)] | None = None
    schema_override: dict[str, Any] | None = None
    # litestar drops a bound of 0 from the document (it tests the value's truth): restated as extra.
    temperature: Annotated[float, msgspec.Meta(ge=0.0, le=2.0, extra_json_schema={"extra": {"minimum": 0}})] | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=131_072)] | None = None


class ExtractIn(msgspec.Struct):
    task_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    request_id: IdStr | None = None
    image_base64: str | None = None
    image_ref: Annotated[str, msgspec.Meta(min_length=1, max_length=512,
                                           extra_json_schema={"extra": {"pattern": "^inputs/"}})] | None = None
    mime_type: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "image/jpeg"
    debug: DebugIn | None = None


class ExtractErrorOut(msgspec.Struct):
    code: str
    message: str
    retryable: bool
    details: dict[str, Any]


class AttemptOut(msgspec.Struct):
    attempt: int
    code: str
    http_status: int | None
    message: str


class SchemaErrorOut(msgspec.Struct):
    path: str
    message: str


class CheckOut(msgspec.Struct):
    rule: str
    ok: bool
    detail: str | None


class TimingsOut(msgspec.Struct):
    inference: int
    parse_validate: int
    total: int


class ExtractMetaOut(msgspec.Struct):
    attempts: int
    resize_scale: float | None
    max_tokens_effective: int


class ExtractOut(msgspec.Struct):
    request_id: str
    created_at: str
    task_id: str
    artifact_rel: str
    model_id: str
    prompt_sha256: str
    schema_sha256: str
    timings_ms: TimingsOut
    parsed: dict[str, Any] | None
    schema_valid: bool
    schema_errors: list[SchemaErrorOut] | None
    checks: list[CheckOut]
    error: ExtractErrorOut | None
    error_history: list[AttemptOut] | None
    meta: ExtractMetaOut
    raw: str | None


class HealthOut(msgspec.Struct):
    ok: bool
    version: str
    auth_enabled: bool
    debug_mode: bool
    inference_backend: str
    model: str
    jobs_backend: str
    storage: str


class ComponentOut(msgspec.Struct):
    ok: bool
    duration_ms: int
    error: str | None = None
    message: str | None = None
    workers: list[str] | None = None  # JOBS_BACKEND=celery: the workers consuming the queue


class ReadyOut(msgspec.Struct):
    ok: bool
    components: dict[str, ComponentOut]


class MeOut(msgspec.Struct):
    key_id: str
    role: str
    scopes: list[str]
    auth_enabled: bool


class TaskOut(msgspec.Struct):
    task_id: str
    description: str


class TasksOut(msgspec.Struct):
    items: list[TaskOut]


class ArtifactSummaryOut(msgspec.Struct):
    request_id: str
    artifact_rel: str
    size: int
    created_at: str


class ArtifactListOut(msgspec.Struct):
    date: str
    items: list[ArtifactSummaryOut]


class RawOut(msgspec.Struct):
    request_id: str
    raw: str | None


# The shape is checked here (422); that it names a real day (not 2026-02-30), by domain.days (400).
DateStr = Annotated[str, msgspec.Meta(pattern=DAY_PATTERN, extra_json_schema={"format": "date"})]
Concurrency = Annotated[int, msgspec.Meta(ge=1, le=64)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=100_000)]


class BatchExtractIn(msgspec.Struct):
    task_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    images_dir: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    glob: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] = "**/*"
    concurrency: Concurrency = 4
    run_id: IdStr | None = None
    limit: Limit | None = None
    gt_id: IdStr | None = None


# litestar documents a list's own bounds but not its items' (restated as extra).
_ERROR_CODE_ITEMS = {"items": {"type": "string", "minLength": 1, "maxLength": 64}}


class BatchRerunIn(msgspec.Struct):
    task_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    run_id: IdStr
    batch_date: DateStr | None = None
    max_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 30
    concurrency: Concurrency = 4
    new_run_id: IdStr | None = None
    limit: Limit | None = None
    gt_id: IdStr | None = None
    # Rerun only the source run's failed items (those whose error code is listed, when given);
    # the new run keeps the other items' results as they were.
    only_failed: bool = False
    error_codes: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]],
                           msgspec.Meta(min_length=1, max_length=50, extra_json_schema={"extra": _ERROR_CODE_ITEMS})] | None = None


class BatchItemOut(msgspec.Struct):
    file: str
    request_id: str
    input_ref: str | None
    artifact_rel: str | None
    ok: bool
    parsed: dict[str, Any] | None
    schema_valid: bool
    schema_errors: list[SchemaErrorOut] | None
    checks: list[CheckOut]
    error: ExtractErrorOut | None
    error_history: list[AttemptOut] | None
    timings_ms: dict[str, int]


class BatchExtractOut(msgspec.Struct):
    run_id: str
    created_at: str
    task_id: str
    images_dir: str | None
    glob: str | None
    concurrency: int
    item_count: int
    ok_count: int
    error_count: int
    artifact_rel: str
    timings_ms: dict[str, int]
    items: list[BatchItemOut]
    eval_summary: dict[str, Any] | None = None


AcceptedStatus = Annotated[Literal["queued", "running"], msgspec.Meta(description=(
    "`queued`: accepted, not started yet; `running`: work already started (an async upload whose "
    "items start while its body arrives, ADR 0051). A replayed Idempotency-Key answers as far as its "
    "job got; the current status, final ones included, is at `poll_url`."))]


class JobAcceptedOut(msgspec.Struct):
    job_id: str
    status: AcceptedStatus
    poll_url: str


class JobOut(msgspec.Struct):
    job_id: str
    kind: str
    status: str
    created_at: str
    updated_at: str
    started_at: str | None
    finished_at: str | None
    cancel_requested: bool
    progress: dict[str, Any] | None
    result: dict[str, Any] | None
    result_rel: str | None
    error: dict[str, Any] | None


class JobListOut(msgspec.Struct):
    items: list[JobOut]
    next_cursor: str | None


class JobCancelOut(msgspec.Struct):
    job_id: str
    status: str
    cancel_requested: bool


class RunSummaryOut(msgspec.Struct):
    run_id: str
    created_at: str
    task_id: str | None
    item_count: int | None
    ok_count: int | None
    error_count: int | None
    artifact_rel: str
    eval_summary: dict[str, Any] | None


class RunListOut(msgspec.Struct):
    items: list[RunSummaryOut]
    next_cursor: str | None


class GroundTruthOut(msgspec.Struct):
    gt_id: str
    name: str | None
    created_at: str
    updated_at: str | None
    version: int
    record_count: int


class GroundTruthFullOut(msgspec.Struct):
    gt_id: str
    name: str | None
    created_at: str
    updated_at: str | None
    version: int
    record_count: int
    items: list[dict[str, Any]]


class GroundTruthListOut(msgspec.Struct):
    items: list[GroundTruthOut]
    next_cursor: str | None


class FromRunIn(msgspec.Struct):
    run_id: IdStr
    gt_id: IdStr | None = None
    name: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class EvalIn(msgspec.Struct):
    run_id: IdStr
    batch_date: DateStr | None = None
    gt: Any = None
    gt_id: IdStr | None = None
    str_mode: Annotated[str, msgspec.Meta(pattern="^(exact|strip|strip_collapse)$")] = "strip"
    default_currency: Annotated[str, msgspec.Meta(pattern="^[A-Za-z]{3}$")] | None = None  # for schemas without one


class EvalOut(msgspec.Struct):
    eval_id: str
    created_at: str
    run_id: str
    gt_id: str | None
    task_id: str
    str_mode: str
    artifact_rel: str
    summary: dict[str, Any]
    report: dict[str, Any]
