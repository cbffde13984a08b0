"""202 job answers (SPEC §4): body, Location, Retry-After, and the Idempotency-Key header."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from litestar import Request, Response

from domain.errors import InvalidInputError
from domain.jobs import Job, accepted_status
from entrypoints.http.schemas import JobAcceptedOut

RETRY_AFTER_S = 2


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 255:
        raise InvalidInputError("Idempotency-Key must be 1 to 255 characters", details={"field": "Idempotency-Key"})
    return key


def fingerprint(payload: Any) -> str:
    """A stable hash of the request: same body, same fingerprint (keys sorted)."""
    return hashlib.sha256(msgspec.json.encode(msgspec.to_builtins(payload), order="sorted")).hexdigest()


def accepted(job: Job) -> Response[JobAcceptedOut]:
    poll_url = f"/v1/jobs/{job.job_id}"
    return Response(JobAcceptedOut(job_id=job.job_id, status=accepted_status(job), poll_url=poll_url),
                    status_code=202, headers={"Location": poll_url, "Retry-After": str(RETRY_AFTER_S)})
