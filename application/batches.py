"""Use case: run a batch plan — items concurrently, in input order, one item's failure never
failing the batch, cooperative cancel, and a batch artifact always written (SPEC §6.3, §7)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import msgspec

from application.batch_feed import ItemFeed
from application.batch_types import BatchItemInput, BatchOutcome, BatchPlan, item_request_id
from application.evaluation import Evaluator
from application.extract import Extractor
from application.extract_types import ExtractCommand
from application.inputs import InputStore, ext_for, mime_for
from application.ports.artifact_index import ArtifactIndex, IndexEntry
from application.ports.blobs import BlobStore
from application.ports.data_root import DataRoot
from application.ports.telemetry import NullTelemetry, Telemetry
from domain.artifacts import ArtifactKind, artifact_rel
from domain.auth import Principal
from domain.errors import DomainError
from domain.ids import day_of, format_ts, utc_now

logger = logging.getLogger("ocr.batch")

ProgressSink = Callable[[dict[str, Any]], Awaitable[None]]
CancelProbe = Callable[[], Awaitable[bool]]


class BatchRunner:
    def __init__(self, *, extractor: Extractor, inputs: InputStore, data_root: DataRoot, blobs: BlobStore,
                 index: ArtifactIndex, evaluator: Evaluator | None = None, telemetry: Telemetry | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._evaluator = evaluator
        self._telemetry = telemetry or NullTelemetry()
        self._extractor = extractor
        self._inputs = inputs
        self._data_root = data_root
        self._blobs = blobs
        self._index = index
        self._clock = clock

    async def run(self, plan: BatchPlan, principal: Principal, *, feed: ItemFeed | None = None,
                  progress: ProgressSink | None = None, should_cancel: CancelProbe | None = None) -> BatchOutcome:
        """Run ``plan.items``, or, with a ``feed``, the items of an upload that is still
        arriving (ADR 0051); an aborted feed ends the batch ``canceled`` like a cancel."""
        started, created_at = time.perf_counter(), self._clock()
        results: dict[int, dict[str, Any]] = {}
        counts = {"done": 0, "ok": 0, "err": 0}
        gate = asyncio.Semaphore(plan.concurrency)
        canceled = False

        def total() -> int:  # an upload still arriving counts the items so far
            return len(plan.items) if feed is None else feed.count

        async def run_item(index: int, item: BatchItemInput) -> None:
            try:
                result = results[index] = await self._run_item(plan, index, item, principal)
            finally:
                gate.release()
            counts["done"] += 1
            counts["ok" if result["ok"] else "err"] += 1
            self._telemetry.batch_item(result["ok"])
            if progress:
                await progress({"stage": "extracting", "total": total(), **counts, "current": item.file})

        tasks = []
        for index in itertools.count():
            await gate.acquire()
            item = await _next_item(plan, feed, index)
            if item is None:
                gate.release()
                canceled = feed is not None and feed.failure is not None
                break
            if should_cancel and await should_cancel():
                gate.release()
                canceled = True
                break
            tasks.append(asyncio.create_task(run_item(index, item)))
        await asyncio.gather(*tasks)
        if progress:
            await progress({"stage": "finalizing", "total": total(), **counts, "current": None})

        items = [results[i] for i in sorted(results)]
        if plan.ephemeral_refs:
            await self._inputs.discard(plan.ephemeral_refs)
            items = [{**i, "input_ref": None} for i in items]
        response = self._response(plan, created_at, items, started)
        await self._store(plan, principal, created_at, response)
        if plan.gt_id and self._evaluator is not None and not canceled:
            response["eval_summary"] = await self._evaluate(plan, principal)
        logger.info("batch finished", extra={"event": "batch_end", "run_id": plan.run_id, "items": len(items),
                                             "ok": counts["ok"], "err": counts["err"], "canceled": canceled})
        return BatchOutcome(response=response, canceled=canceled)

    async def _run_item(self, plan: BatchPlan, index: int, item: BatchItemInput,
                        principal: Principal) -> dict[str, Any]:
        request_id = item_request_id(plan.task_id, plan.run_id, index, item.file)
        started = time.perf_counter()
        base = {"file": item.file, "request_id": request_id, "input_ref": item.input_ref}
        if item.error is not None:
            return _failed_item(base, item.error, started)
        try:
            ref = item.input_ref
            if ref is not None:
                data = await self._inputs.read(ref, principal)
            else:
                data = await self._data_root.read(item.path or item.file)
                if plan.persist_inputs:
                    ref = await self._inputs.put_bytes(principal.key_id, data, ext_for(item.file, None))
            result = await self._extractor.run(
                ExtractCommand(task_id=plan.task_id, request_id=request_id, mime_type=mime_for(item.file),
                               image_bytes=data, input_ref=ref, source_name=item.file), principal)
        except DomainError as exc:
            error = {"code": exc.code, "message": exc.message, "retryable": bool(exc.details.get("retryable")),
                     "details": {k: v for k, v in exc.details.items() if k != "retryable"}}
            return _failed_item({**base, "input_ref": item.input_ref}, error, started)
        return {
            **base, "input_ref": ref, "artifact_rel": result.artifact_rel, "ok": result.error is None,
            "parsed": result.parsed, "schema_valid": result.schema_valid, "schema_errors": result.schema_errors,
            "checks": result.checks, "error": msgspec.structs.asdict(result.error) if result.error else None,
            "error_history": result.error_history, "timings_ms": result.timings_ms,
        }

    async def _evaluate(self, plan: BatchPlan, principal: Principal) -> dict[str, Any]:
        """Evaluation at batch time; its failure is reported, never the batch's."""
        try:
            body = await self._evaluator.evaluate_run(principal, run_id=plan.run_id, gt_id=plan.gt_id)
        except DomainError as exc:
            return {"error": {"code": exc.code, "message": exc.message}}
        return {"eval_id": body["eval_id"], **body["summary"]}

    def _response(self, plan: BatchPlan, created_at: datetime, items: list[dict[str, Any]],
                  started: float) -> dict[str, Any]:
        ok = sum(1 for i in items if i["ok"])
        return {
            "run_id": plan.run_id, "created_at": format_ts(created_at), "task_id": plan.task_id,
            "images_dir": plan.images_dir, "glob": plan.glob, "concurrency": plan.concurrency,
            "item_count": len(items), "ok_count": ok, "error_count": len(items) - ok,
            "artifact_rel": artifact_rel(ArtifactKind.BATCH, plan.run_id, created_at),
            "timings_ms": {"total": int((time.perf_counter() - started) * 1000)},
            "items": items,
        }

    async def _store(self, plan: BatchPlan, principal: Principal, created_at: datetime,
                     response: dict[str, Any]) -> None:
        rel = response["artifact_rel"]
        artifact = {**response, "kind": plan.kind, "source_run_id": plan.source_run_id,
                    "auth": {"key_id": principal.key_id, "role": principal.role}}
        await self._blobs.put(rel, msgspec.json.encode(artifact))
        summary = {k: response[k] for k in ("task_id", "item_count", "ok_count", "error_count")}
        await self._index.add(IndexEntry(kind=ArtifactKind.BATCH, artifact_id=plan.run_id,
                                         owner_key_id=principal.key_id, day=day_of(created_at), rel_ref=rel,
                                         created_at=created_at, summary=summary))


async def _next_item(plan: BatchPlan, feed: ItemFeed | None, index: int) -> BatchItemInput | None:
    if feed is not None:
        return await feed.take(index)
    return plan.items[index] if index < len(plan.items) else None


def _failed_item(base: dict[str, Any], error: dict[str, Any], started: float) -> dict[str, Any]:
    return {**base, "artifact_rel": None, "ok": False, "parsed": None, "schema_valid": False,
            "schema_errors": None, "checks": [], "error": error, "error_history": None,
            "timings_ms": {"total": int((time.perf_counter() - started) * 1000)}}
