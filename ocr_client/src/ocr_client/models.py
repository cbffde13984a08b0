"""Typed results mirroring the service's wire schemas (SPEC §4-§9).

The structs are defined here, not imported from the service, so the client is a standalone
SDK. Unknown fields are ignored when decoding, so a newer server that adds fields does not
break an older client; optional or nullable fields default to ``None``.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "Attempt", "BatchItem", "BatchResult", "BillingSummary", "Check", "ExtractError", "ExtractMeta",
    "ExtractResult", "ExtractTimings", "Health", "Job", "JobProgress", "Me", "RunSummary", "SchemaIssue",
    "Task", "TERMINAL_STATUSES",
]

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled"})


class _Wire(msgspec.Struct, kw_only=True):
    """Base: keyword-only fields, unknown fields ignored (msgspec's default)."""

    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)


class Health(_Wire):
    ok: bool
    version: str = ""
    auth_enabled: bool = True
    debug_mode: bool = False
    inference_backend: str = ""
    model: str = ""
    jobs_backend: str = ""
    storage: str = ""


class Me(_Wire):
    key_id: str
    role: str
    scopes: list[str] = []
    auth_enabled: bool = True


class Task(_Wire):
    task_id: str
    description: str = ""


class SchemaIssue(_Wire):
    path: str
    message: str


class Check(_Wire):
    rule: str
    ok: bool
    detail: str | None = None


class ExtractError(_Wire):
    """A model failure reported inside a 200 response (the call itself succeeded)."""

    code: str
    message: str = ""
    retryable: bool = False
    details: dict[str, Any] = {}


class Attempt(_Wire):
    attempt: int
    code: str
    http_status: int | None = None
    message: str = ""


class ExtractTimings(_Wire):
    inference: int = 0
    parse_validate: int = 0
    total: int = 0


class ExtractMeta(_Wire):
    attempts: int = 0
    resize_scale: float | None = None
    max_tokens_effective: int | None = None


class ExtractResult(_Wire):
    """``POST /v1/extract`` (also an extract job's result and, with extra fields, its artifact)."""

    request_id: str
    task_id: str
    created_at: str | None = None
    artifact_rel: str | None = None
    model_id: str | None = None
    prompt_sha256: str | None = None
    schema_sha256: str | None = None
    timings_ms: ExtractTimings = msgspec.field(default_factory=ExtractTimings)
    parsed: dict[str, Any] | None = None
    schema_valid: bool = False
    schema_errors: list[SchemaIssue] | None = None
    checks: list[Check] = []
    error: ExtractError | None = None
    error_history: list[Attempt] | None = None
    meta: ExtractMeta = msgspec.field(default_factory=ExtractMeta)
    raw: str | None = None

    @property
    def ok(self) -> bool:
        """The model answered and the answer validated."""
        return self.error is None and self.schema_valid


class BatchItem(_Wire):
    file: str
    request_id: str
    ok: bool
    input_ref: str | None = None
    artifact_rel: str | None = None
    parsed: dict[str, Any] | None = None
    schema_valid: bool = False
    schema_errors: list[SchemaIssue] | None = None
    checks: list[Check] = []
    error: ExtractError | None = None
    error_history: list[Attempt] | None = None
    timings_ms: dict[str, int] = {}


class BatchResult(_Wire):
    """``BatchExtractResponse``: a sync batch, a batch job's result, or ``GET /v1/runs/{id}``."""

    run_id: str
    task_id: str
    created_at: str | None = None
    images_dir: str | None = None
    glob: str | None = None
    concurrency: int | None = None
    item_count: int = 0
    ok_count: int = 0
    error_count: int = 0
    artifact_rel: str | None = None
    timings_ms: dict[str, int] = {}
    items: list[BatchItem] = []
    eval_summary: dict[str, Any] | None = None


class JobProgress(_Wire):
    stage: str = "queued"
    total: int = 0
    done: int = 0
    ok: int = 0
    err: int = 0
    current: str | None = None


class Job(_Wire):
    """A job's state (``GET /v1/jobs/{id}``). A 202 submit or a cancel answers with only
    ``job_id``/``status`` (and ``poll_url`` / ``cancel_requested``); the rest stays default."""

    job_id: str
    status: str
    kind: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    cancel_requested: bool = False
    progress: JobProgress | None = None
    result: dict[str, Any] | None = None
    result_rel: str | None = None
    error: dict[str, Any] | None = None
    poll_url: str | None = None

    @property
    def done(self) -> bool:
        """The job reached a terminal state (succeeded, failed or canceled)."""
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


class RunSummary(_Wire):
    run_id: str
    created_at: str | None = None
    task_id: str | None = None
    item_count: int | None = None
    ok_count: int | None = None
    error_count: int | None = None
    artifact_rel: str | None = None
    eval_summary: dict[str, Any] | None = None


class BillingSummary(_Wire):
    configured: bool
    currency: str = "usd"
    period_start: int | None = None
    period_end: int | None = None
    spent_usd: float | None = None
    month_to_date_spend_usd: float | None = None
    spend_month_to_date_usd: float | None = None
    limit_usd: float | None = None
    budget_monthly_usd: float | None = None
    prepaid_credits_usd: float | None = None
    remaining_usd: float | None = None
    error: str | None = None
