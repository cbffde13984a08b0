"""Turning a batch request into a plan, validating everything before any model call:
directory listings under DATA_ROOT, stored uploads, or a rerun of a stored run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from application.artifacts import ArtifactReader, visible_run
from application.batch_types import BatchItemInput, BatchPlan
from application.ports.artifact_index import ArtifactIndex
from application.ports.data_root import DataRoot
from domain.artifacts import ArtifactKind
from domain.auth import Principal
from domain.days import check_day
from domain.errors import (
    ArtifactExistsError,
    InvalidInputError,
    NotFoundError,
    ValidationFailedError,
)
from domain.ids import check_id, new_id, utc_now
from domain.receipts.tasks import TaskRegistry


class BatchPlanner:
    def __init__(self, *, tasks: TaskRegistry, data_root: DataRoot, index: ArtifactIndex,
                 artifacts: ArtifactReader, clock: Callable[[], datetime] = utc_now) -> None:
        self._tasks = tasks
        self._data_root = data_root
        self._index = index
        self._artifacts = artifacts
        self._clock = clock

    async def new_run_id(self, run_id: str | None) -> str:
        run_id = check_id(run_id, "run_id") if run_id else new_id()
        if await self._index.get(ArtifactKind.BATCH, run_id) is not None:
            raise ArtifactExistsError(f"a run with run_id {run_id} already exists")
        return run_id

    async def from_dir(self, *, task_id: str, images_dir: str, glob: str, concurrency: int,
                       run_id: str | None, limit: int | None) -> BatchPlan:
        self._tasks.get(task_id)
        paths = await self._data_root.list_images(images_dir, glob, limit)
        prefix = images_dir.strip("/")
        items = [BatchItemInput(file=_relative(p, prefix), path=p) for p in paths]
        return BatchPlan(kind="batch_extract", task_id=task_id, run_id=await self.new_run_id(run_id),
                         concurrency=concurrency, items=items, images_dir=images_dir, glob=glob)

    async def from_uploads(self, *, task_id: str, uploads: list[tuple[str, str]], concurrency: int,
                           run_id: str | None, limit: int | None, persist_inputs: bool = True,
                           ephemeral_refs: list[str] | None = None, checked: bool = False,
                           refused: dict[int, dict[str, Any]] | None = None) -> BatchPlan:
        """``uploads`` = (file name, stored input ref), in upload order; ``refused``: the items
        (by index) whose file was not stored, with the error they end with."""
        self._tasks.get(task_id)
        if not uploads:
            raise InvalidInputError("at least one file is required", details={"field": "files"})
        chosen = uploads[:limit] if limit else uploads
        refused = refused or {}
        items = [BatchItemInput(file=name, input_ref=ref or None, error=refused.get(index))
                 for index, (name, ref) in enumerate(chosen)]
        run_id = run_id if checked and run_id else await self.new_run_id(run_id)
        return BatchPlan(kind="batch_extract_upload", task_id=task_id, run_id=run_id,
                         concurrency=concurrency, items=items, persist_inputs=persist_inputs,
                         ephemeral_refs=list(ephemeral_refs or []))

    async def upload_head(self, *, task_id: str, concurrency: int, run_id: str | None) -> BatchPlan:
        """An upload batch's plan before its files are known (ADR 0051): task and run id checked."""
        self._tasks.get(task_id)
        return BatchPlan(kind="batch_extract_upload", task_id=task_id, run_id=await self.new_run_id(run_id),
                         concurrency=concurrency, items=[])

    async def from_rerun(self, principal: Principal, *, task_id: str, source_run_id: str, batch_date: str | None,
                         max_days: int, concurrency: int, new_run_id: str | None, limit: int | None,
                         only_failed: bool = False, error_codes: list[str] | None = None) -> BatchPlan:
        """Every item of the source run again, or with ``only_failed`` just its failures (those
        whose error code is in ``error_codes``, when given): the other items keep their results."""
        self._tasks.get(task_id)
        check_id(source_run_id, "run_id")
        if batch_date is not None:
            check_day(batch_date, "batch_date")
        entry = await self._index.get(ArtifactKind.BATCH, source_run_id)
        if not visible_run(entry, principal, batch_date):  # another owner's run looks missing, its day too
            raise NotFoundError(f"no run {source_run_id}" + (f" on {batch_date}" if batch_date else ""))
        assert entry is not None
        if entry.created_at < self._clock() - timedelta(days=max_days):
            raise InvalidInputError(f"run {source_run_id} is older than max_days={max_days}",
                                    details={"field": "max_days"})
        source = await self._artifacts.read(ArtifactKind.BATCH, source_run_id, principal)
        if only_failed and source.get("task_id") != task_id:
            raise ValidationFailedError("only_failed keeps the source run's results, so it needs the same task", details={
                "errors": [{"path": "$.task_id", "message": f"the source run used {source.get('task_id')}"}]})
        codes = set(error_codes or ())
        items = [_kept_item(i, n) if only_failed and not _to_redo(i, codes) else _rerun_item(i)
                 for n, i in enumerate(source.get("items", []))]
        if limit:
            items = items[:limit]
        return BatchPlan(kind="batch_extract_rerun", task_id=task_id, run_id=await self.new_run_id(new_run_id),
                         concurrency=concurrency, items=items, source_run_id=source_run_id)


def _to_redo(item: dict[str, Any], codes: set[str]) -> bool:
    """A failed source item (with one of ``codes``, when given) is run again."""
    if item.get("ok"):
        return False
    return not codes or (item.get("error") or {}).get("code") in codes


def _kept_item(item: dict[str, Any], index: int) -> BatchItemInput:
    return BatchItemInput(file=item["file"], input_ref=item.get("input_ref"), reuse_index=index)


def _rerun_item(item: dict[str, Any]) -> BatchItemInput:
    ref = item.get("input_ref")
    if ref:
        return BatchItemInput(file=item["file"], input_ref=ref)
    return BatchItemInput(file=item["file"], error={
        "code": "input_missing", "message": "the source item has no stored input; it is never read from a server path",
        "retryable": False, "details": {}})


def _relative(path: str, prefix: str) -> str:
    return path[len(prefix) + 1:] if prefix and path.startswith(prefix + "/") else path
