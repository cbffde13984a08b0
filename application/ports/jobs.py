"""Job store and job queue ports (SPEC §7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import msgspec

from domain.jobs import Job, JobStatus

JobChange = Callable[[Job], Job]


class JobPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Job]
    next_cursor: str | None


class JobControl(msgspec.Struct, frozen=True, kw_only=True):
    """What a running job checks between items: is it still running, was cancel asked?"""

    status: JobStatus
    cancel_requested: bool


class JobStore(Protocol):
    """Errors: ``ConflictError`` for a duplicate job_id or (owner, idempotency_key);
    ``NotFoundError`` for an unknown job; whatever the change function raises (nothing is
    written then); ``InvalidInputError`` for a bad cursor; ``StorageUnavailableError``."""

    async def create(self, job: Job) -> None: ...

    async def get(self, job_id: str) -> Job | None: ...

    async def control(self, job_id: str) -> JobControl | None:
        """Status and cancel flag only — cheap enough to ask between batch items (the full
        job carries the whole request, which can be a thousand-item plan)."""
        ...

    async def update(self, job_id: str, change: JobChange) -> Job:
        """Atomically: lock the row, apply ``change`` to the current job, write the result.
        Two concurrent updates never both see the same old state."""
        ...

    async def find_by_idempotency_key(self, owner_key_id: str, idempotency_key: str) -> Job | None: ...

    async def release_idempotency_key(self, job_id: str) -> None:
        """Forget an expired key so it can name a new job."""
        ...

    async def page(self, *, owner_key_id: str | None, status: JobStatus | None, limit: int,
                   cursor: str | None = None) -> JobPage:
        """Newest first; ``owner_key_id=None`` lists every owner."""
        ...

    async def ids_with_status(self, status: JobStatus) -> list[str]: ...

    async def counts_by_status(self) -> dict[str, int]:
        """How many jobs are in each status (statuses with none may be absent)."""
        ...

    async def ping(self) -> None: ...


class JobQueue(Protocol):
    """Hands a queued job to whatever executes it (in-process asyncio or Celery)."""

    async def enqueue(self, job_id: str) -> None: ...

    async def ping(self) -> None: ...
