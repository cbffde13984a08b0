"""Use case: evaluate a batch run against ground truth (SPEC §8, issue 5). The report is
stored as an eval artifact owned by the caller, linked from the run, and summarised in
``GET /v1/runs`` (``eval_summary``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from application.artifacts import ArtifactReader, visible_run
from application.ground_truths import GroundTruthStore, basename, normalise_records
from application.ports.artifact_index import ArtifactIndex, IndexEntry
from application.ports.blobs import BlobStore
from domain.artifacts import ArtifactKind, artifact_rel
from domain.auth import Principal
from domain.days import check_day
from domain.errors import NotFoundError, ValidationFailedError
from domain.evaluation.report import evaluate
from domain.ids import check_id, day_of, format_ts, new_id, utc_now
from domain.receipts.tasks import TaskRegistry

STR_MODES = ("exact", "strip", "strip_collapse")


class Evaluator:
    def __init__(self, *, tasks: TaskRegistry, artifacts: ArtifactReader, ground_truths: GroundTruthStore,
                 blobs: BlobStore, index: ArtifactIndex, clock: Callable[[], datetime] = utc_now) -> None:
        self._tasks = tasks
        self._artifacts = artifacts
        self._gts = ground_truths
        self._blobs = blobs
        self._index = index
        self._clock = clock

    async def evaluate_run(self, principal: Principal, *, run_id: str, gt: Any = None, gt_id: str | None = None,
                           batch_date: str | None = None, str_mode: str = "strip",
                           default_currency: str | None = None) -> dict[str, Any]:
        if (gt is None) == (gt_id is None):
            raise ValidationFailedError("give exactly one of gt or gt_id", details={
                "errors": [{"path": "$.gt", "message": "exactly one of gt (inline) or gt_id is required"}]})
        if str_mode not in STR_MODES:
            raise ValidationFailedError("unknown str_mode", details={
                "errors": [{"path": "$.str_mode", "message": f"one of {', '.join(STR_MODES)}"}]})
        check_id(run_id, "run_id")
        if batch_date is not None:
            check_day(batch_date, "batch_date")
        entry = await self._index.get(ArtifactKind.BATCH, run_id)
        if not visible_run(entry, principal, batch_date):  # another owner's run looks missing, its day too
            raise NotFoundError(f"no run {run_id}" + (f" on {batch_date}" if batch_date else ""))
        assert entry is not None
        run = await self._artifacts.read(ArtifactKind.BATCH, run_id, principal)
        records = normalise_records(gt) if gt is not None else await self._gts.records(gt_id, principal)
        schema = self._tasks.get(run["task_id"]).json_schema
        pairs, missing = _pairs(run.get("items", []), records)
        report = evaluate(pairs, schema, str_mode=str_mode, missing_files=missing,
                          default_currency=default_currency)
        return await self._store(principal, run_id, entry, gt_id, str_mode, run["task_id"], report)

    async def _store(self, principal: Principal, run_id: str, run_entry: IndexEntry, gt_id: str | None,
                     str_mode: str, task_id: str, report: Any) -> dict[str, Any]:
        eval_id, now = new_id(), self._clock()
        rel = artifact_rel(ArtifactKind.EVAL, eval_id, now)
        summary = report.summary()
        body = {"eval_id": eval_id, "created_at": format_ts(now), "run_id": run_id, "gt_id": gt_id,
                "task_id": task_id, "str_mode": str_mode, "artifact_rel": rel, "summary": summary,
                "auth": {"key_id": principal.key_id, "role": principal.role},
                "report": msgspec.to_builtins(report)}
        await self._blobs.put(rel, msgspec.json.encode(body))
        await self._index.add(IndexEntry(kind=ArtifactKind.EVAL, artifact_id=eval_id,
                                         owner_key_id=principal.key_id, day=day_of(now), rel_ref=rel,
                                         created_at=now, summary={"run_id": run_id, **summary}))
        run_summary = dict(run_entry.summary or {})
        run_summary["eval_summary"] = {"eval_id": eval_id, "gt_id": gt_id, "str_mode": str_mode, **summary}
        await self._index.update_summary(ArtifactKind.BATCH, run_id, run_summary)
        return body


def _pairs(items: list[dict[str, Any]],
           records: list[dict[str, Any]]) -> tuple[list[tuple[str, dict | None, dict | None]], list[str]]:
    """GT records matched to batch items by file basename; failed items predict nothing, and
    records with no item at all are listed as missing."""
    by_name: dict[str, dict[str, Any]] = {}
    for item in items:
        by_name.setdefault(basename(item["file"]), item)
    pairs: list[tuple[str, dict | None, dict | None]] = []
    missing: list[str] = []
    for record in records:
        name = basename(record["file"])
        item = by_name.pop(name, None)
        if item is None:
            missing.append(name)
        prediction = item.get("parsed") if item and item.get("ok") else None
        pairs.append((name, prediction, {k: v for k, v in record.items() if k != "file"}))
    for name, item in by_name.items():
        pairs.append((name, item.get("parsed") if item.get("ok") else None, None))
    return pairs, missing
