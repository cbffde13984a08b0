"""ocr_client — a small typed Python client for the OCR Orchestrator HTTP API.

Standalone: depends only on ``httpx`` and ``msgspec`` (never on the service's packages).

Usage::

    from ocr_client import AsyncOcrClient, OcrClient, image_files

    with OcrClient("http://127.0.0.1:8080", api_key=KEY) as ocr:
        res = ocr.extract("receipt.png", "receipt_fields_v1")        # bytes or a path
        print(res.ok, res.parsed, res.error)                           # model failures are results

        job = ocr.batch_upload(image_files("scans"), "receipt_fields_v1", concurrency=8)
        while not (job := ocr.job(job.job_id, wait=10)).done:          # long-poll, ≤30 s per call
            print(job.progress.done, "/", job.progress.total)
        batch = ocr.batch_result(job.job_id)                           # BatchResult (or .result() → dict)

        job = ocr.wait_for(ocr.extract_async(b"...", "receipt_v1").job_id, timeout=120)
        for run in ocr.runs():                                         # pages followed for you
            print(run.run_id, run.ok_count)

    async with AsyncOcrClient(URL, api_key=KEY) as ocr:                # same methods, awaited
        res = await ocr.extract(b"...", "receipt_v1")

Errors are typed from the service's envelope: :class:`OcrError` (``status``, ``code``,
``message``, ``request_id``, ``details``, ``retryable``) and its subclasses ``AuthError`` (401),
``ForbiddenError`` (403), ``NotFoundError`` (404), ``ConflictError`` / ``ArtifactExistsError``
(409), ``PayloadTooLargeError`` (413), ``ValidationError`` (422, ``.errors``),
``RateLimitedError`` (429), ``ServerError`` (500), ``UpstreamError`` (502/503/504),
``BadRequestError`` (400/405/415); ``OcrConnectionError`` when the server cannot be reached.
Idempotent calls are retried a little on 503/504 and connection errors (``retry=``).
"""

from ocr_client._core import RetryPolicy, image_files, sniff_mime
from ocr_client.aio import AsyncOcrClient
from ocr_client.errors import (
    ArtifactExistsError,
    AuthError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    JobWaitTimeout,
    NotFoundError,
    OcrConnectionError,
    OcrError,
    PayloadTooLargeError,
    RateLimitedError,
    ServerError,
    UpstreamError,
    ValidationError,
)
from ocr_client.models import (
    Attempt,
    BatchItem,
    BatchResult,
    BillingSummary,
    Check,
    ExtractError,
    ExtractMeta,
    ExtractResult,
    ExtractTimings,
    Health,
    Job,
    JobProgress,
    Me,
    RunSummary,
    SchemaIssue,
    Task,
)
from ocr_client.sync import OcrClient

__version__ = "0.1.0"

__all__ = [
    "ArtifactExistsError", "AsyncOcrClient", "Attempt", "AuthError", "BadRequestError", "BatchItem", "BatchResult",
    "BillingSummary", "Check", "ConflictError", "ExtractError", "ExtractMeta", "ExtractResult", "ExtractTimings",
    "ForbiddenError", "Health", "Job", "JobProgress", "JobWaitTimeout", "Me", "NotFoundError", "OcrClient",
    "OcrConnectionError", "OcrError", "PayloadTooLargeError", "RateLimitedError", "RetryPolicy", "RunSummary",
    "SchemaIssue", "ServerError", "Task", "UpstreamError", "ValidationError", "image_files", "sniff_mime",
]
