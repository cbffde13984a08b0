"""Use case: run a batch plan — items concurrently, in input order, one item's failure never
failing the batch, cooperative cancel, and a batch artifact always written (SPEC §6.3, §7).

Items are the unit of durable work (ADR 0052): each finished item is its extract artifact,
claimed and completed under the item's request id, so running the same plan again (a job
resumed after a restart) reuses every finished item and runs only the rest. Storage and
model-server outages are waited out, not drained through (ADR 0053).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from application.batch_feed import ItemFeed
from application.batch_types import BatchItemInput, BatchOutcome, BatchPlan, item_request_id
from application.evaluation import Evaluator
from application.extract import Extractor
from application.extract_types import ExtractCommand, ExtractResult
from application.inputs import InputStore, ext_for, mime_for
from application.outages import OutageGuard, Outages
from application.ports.artifact_index import ArtifactIndex, IndexEntry
from application.ports.blobs import BlobStore
from application.ports.data_root import DataRoot
from application.ports.telemetry import NullTelemetry, Telemetry
from domain.artifacts import ArtifactKind, artifact_rel
from domain.auth import Principal
from domain.errors import ArtifactExistsError, DomainError
from domain.ids import day_of, format_ts, utc_now

logger = logging.getLogger("ocr.batch")

ProgressSink = Callable[[dict[str, Any]], Awaitable[None]]
CancelProbe = Callable[[], Awaitable[bool]]
StopProbe = Callable[[], bool]

NOT_RUN = {"code": "stale_after_restart", "retryable": True, "details": {},
           "message": "not run: the job was interrupted JOBS_MAX_ATTEMPTS times; rerun the run's failures"}


@dataclass
class _Run:
    """One execution of a plan: its outage guard, its counts, and the source items it reuses."""

    plan: BatchPlan
    principal: Principal
    guard: OutageGuard
    salvage: bool
    counts: dict[str, int] = field(default_factory=lambda: {"done": 0, "ok": 0, "err": 0})
    source_items: list[dict[str, Any]] | None = None


class BatchRunner:
    def __init__(self, *, extractor: Extractor, inputs: InputStore, data_root: DataRoot, blobs: BlobStore,
                 index: ArtifactIndex, evaluator: Evaluator | None = None, telemetry: Telemetry | None = None,
                 outages: Outages | None = None, clock: Callable[[], datetime] = utc_now) -> None:
        self._evaluator = evaluator
        self._telemetry = telemetry or NullTelemetry()
        self._extractor = extractor
        self._inputs = inputs
        self._data_root = data_root
        self._blobs = blobs
        self._index = index
        self._outages = outages or Outages(max_wait_s=300.0)
        self._clock = clock

    async def run(self, plan: BatchPlan, principal: Principal, *, feed: ItemFeed | None = None,
                  progress: ProgressSink | None = None, should_cancel: CancelProbe | None = None,
                  interrupted: StopProbe | None = None, salvage: bool = False) -> BatchOutcome:
        """Run ``plan.items``, or, with a ``feed``, the items of an upload that is still
        arriving (ADR 0051); an aborted feed ends the batch ``canceled`` like a cancel.
        ``interrupted``: the process is stopping — dispatch stops, the items in flight finish,
        and no batch artifact is written (the job resumes later). ``salvage``: run nothing,
        collect the items that finished in earlier attempts (ADR 0052)."""
        started, created_at = time.perf_counter(), self._clock()
        results: dict[int, dict[str, Any]] = {}
        gate = asyncio.Semaphore(plan.concurrency)
        canceled = stopped = False
        stage: dict[str, str | None] = {"base": "extracting", "waiting": None}

        def total() -> int:  # an upload still arriving counts the items so far
            return len(plan.items) if feed is None else feed.count

        async def report(current: str | None) -> None:
            if progress:
                await progress({"stage": stage["waiting"] or stage["base"], "total": total(), **run.counts,
                                "current": current})

        reports: set[asyncio.Task[None]] = set()  # stage changes, reported at once (held till done)

        def on_stage(waiting: str | None) -> None:
            if waiting == stage["waiting"]:
                return
            stage["waiting"] = waiting
            if progress:
                task = asyncio.get_running_loop().create_task(report(None))
                reports.add(task)
                task.add_done_callback(reports.discard)

        run = _Run(plan=plan, principal=principal, guard=OutageGuard(self._outages, on_stage), salvage=salvage)

        async def run_item(index: int, item: BatchItemInput) -> None:
            try:
                result = results[index] = await self._run_item(run, index, item)
            finally:
                gate.release()
            run.counts["done"] += 1
            run.counts["ok" if result["ok"] else "err"] += 1
            self._telemetry.batch_item(result["ok"])
            await report(item.file)

        tasks = []
        for index in itertools.count():
            await gate.acquire()
            # Asked before taking the item: an item taken from an upload's feed must run (its
            # input stays; the refused upload removes only inputs no item took).
            if should_cancel and await should_cancel():
                gate.release()
                canceled = True
                break
            if interrupted and interrupted():
                gate.release()
                stopped = True
                break
            item = await _next_item(plan, feed, index)
            if item is None:
                gate.release()
                canceled = feed is not None and feed.failure is not None
                break
            tasks.append(asyncio.create_task(run_item(index, item)))
        await asyncio.gather(*tasks)
        if stopped:
            logger.info("batch interrupted", extra={"event": "batch_interrupted", "run_id": plan.run_id,
                                                    "items_done": run.counts["done"]})
            return BatchOutcome(response={}, canceled=False, interrupted=True)
        stage["base"] = "finalizing"
        await report(None)

        items = [results[i] for i in sorted(results)]
        if plan.ephemeral_refs:
            await self._inputs.discard(plan.ephemeral_refs)
            items = [{**i, "input_ref": None} for i in items]
        response = self._response(plan, created_at, items, started)
        response = await self._store(run, created_at, response)
        if plan.gt_id and self._evaluator is not None and not canceled:
            response["eval_summary"] = await self._evaluate(plan, principal)
        logger.info("batch finished", extra={"event": "batch_end", "run_id": plan.run_id, "items": len(items),
                                             "ok": run.counts["ok"], "err": run.counts["err"], "canceled": canceled})
        return BatchOutcome(response=response, canceled=canceled)

    async def _run_item(self, run: _Run, index: int, item: BatchItemInput) -> dict[str, Any]:
        plan, principal = run.plan, run.principal
        request_id = item_request_id(plan.task_id, plan.run_id, index, item.file)
        started = time.perf_counter()
        base = {"file": item.file, "request_id": request_id, "input_ref": item.input_ref}
        if item.error is not None:
            return _failed_item(base, item.error, started)
        try:
            if item.reuse_index is not None:
                return await self._source_item(run, item.reuse_index)
            if run.salvage:
                stored = await self._extractor.stored(request_id, principal, io=run.guard.storage)
                if stored is None:
                    return _failed_item(base, NOT_RUN, started)
                return _item(base, stored.input_ref, stored)
            ref = item.input_ref
            if item.input_ref is not None:
                stored_ref = item.input_ref
                data = await run.guard.storage(lambda: self._inputs.read(stored_ref, principal))
            else:
                data = await self._data_root.read(item.path or item.file)
                if plan.persist_inputs:
                    ext = ext_for(item.file, None)
                    ref = await run.guard.storage(lambda: self._inputs.put_bytes(principal.key_id, data, ext))
            result = await self._extractor.run(
                ExtractCommand(task_id=plan.task_id, request_id=request_id, mime_type=mime_for(item.file),
                               image_bytes=data, input_ref=ref, source_name=item.file, owned=True),
                principal, guard=run.guard)
        except DomainError as exc:
            error = {"code": exc.code, "message": exc.message, "retryable": bool(exc.details.get("retryable")),
                     "details": {k: v for k, v in exc.details.items() if k != "retryable"}}
            return _failed_item({**base, "input_ref": item.input_ref}, error, started)
        return _item(base, ref, result)

    async def _source_item(self, run: _Run, index: int) -> dict[str, Any]:
        """An item a rerun of only the failures keeps: the source run's own result (read once)."""
        if run.source_items is None:
            entry = await run.guard.storage(lambda: self._index.get(ArtifactKind.BATCH, run.plan.source_run_id or ""))
            if entry is None:
                raise DomainError(f"the source run {run.plan.source_run_id} is gone", code="source_missing")
            source = msgspec.json.decode(await run.guard.storage(lambda: self._blobs.get(entry.rel_ref)))
            run.source_items = source.get("items", [])
        return dict(run.source_items[index])

    async def _evaluate(self, plan: BatchPlan, principal: Principal) -> dict[str, Any]:
        """Evaluation at batch time; its failure is reported, never the batch's."""
        assert self._evaluator is not None
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

    async def _store(self, run: _Run, created_at: datetime, response: dict[str, Any]) -> dict[str, Any]:
        """Write the batch artifact and index it, waiting out outages. Written already (a resumed
        job whose first attempt stored it but could not finish): the stored one is the answer."""
        plan, principal = run.plan, run.principal
        rel = response["artifact_rel"]
        artifact = {**response, "kind": plan.kind, "source_run_id": plan.source_run_id,
                    "auth": {"key_id": principal.key_id, "role": principal.role}}
        summary = {k: response[k] for k in ("task_id", "item_count", "ok_count", "error_count")}
        entry = IndexEntry(kind=ArtifactKind.BATCH, artifact_id=plan.run_id, owner_key_id=principal.key_id,
                           day=day_of(created_at), rel_ref=rel, created_at=created_at, summary=summary)
        held = await run.guard.storage(lambda: self._index.get(ArtifactKind.BATCH, plan.run_id))
        if held is not None and held.owner_key_id == principal.key_id:
            return _public(msgspec.json.decode(await run.guard.storage(lambda: self._blobs.get(held.rel_ref))))
        try:
            await run.guard.storage(lambda: self._blobs.put(rel, msgspec.json.encode(artifact)))
        except ArtifactExistsError:
            stored = msgspec.json.decode(await run.guard.storage(lambda: self._blobs.get(rel)))
            if (stored.get("auth") or {}).get("key_id") != principal.key_id:
                raise
            response = _public(stored)
        await run.guard.storage(lambda: self._index.add(entry))
        return response


async def _next_item(plan: BatchPlan, feed: ItemFeed | None, index: int) -> BatchItemInput | None:
    if feed is not None:
        return await feed.take(index)
    return plan.items[index] if index < len(plan.items) else None


def _public(artifact: dict[str, Any]) -> dict[str, Any]:
    """The response part of a stored batch artifact."""
    return {k: v for k, v in artifact.items() if k not in ("kind", "source_run_id", "auth")}


def _item(base: dict[str, Any], ref: str | None, result: ExtractResult) -> dict[str, Any]:
    return {
        **base, "input_ref": ref, "artifact_rel": result.artifact_rel, "ok": result.error is None,
        "parsed": result.parsed, "schema_valid": result.schema_valid, "schema_errors": result.schema_errors,
        "checks": result.checks, "error": msgspec.structs.asdict(result.error) if result.error else None,
        "error_history": result.error_history, "timings_ms": result.timings_ms,
    }


def _failed_item(base: dict[str, Any], error: dict[str, Any], started: float) -> dict[str, Any]:
    return {**base, "artifact_rel": None, "ok": False, "parsed": None, "schema_valid": False,
            "schema_errors": None, "checks": [], "error": error, "error_history": None,
            "timings_ms": {"total": int((time.perf_counter() - started) * 1000)}}
