"""What a batch is made of, before and after it runs (SPEC §6.3)."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec


class BatchItemInput(msgspec.Struct, frozen=True, kw_only=True):
    file: str
    input_ref: str | None = None  # a stored input (uploads, reruns, persisted directory files)
    path: str | None = None  # a file under DATA_ROOT, read when the item runs
    error: dict[str, Any] | None = None  # known to fail before running (e.g. a rerun item without input)
    reuse_index: int | None = None  # a rerun of only the failures: this item's result is the source run's item


class BatchPlan(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    task_id: str
    run_id: str
    concurrency: int
    items: list[BatchItemInput]
    images_dir: str | None = None
    glob: str | None = None
    persist_inputs: bool = True
    ephemeral_refs: list[str] = []  # inputs stored only for this run (persist_inputs=false): removed after it
    source_run_id: str | None = None
    gt_id: str | None = None  # evaluate against this ground truth when the run ends


class BatchOutcome(msgspec.Struct, frozen=True, kw_only=True):
    response: dict[str, Any]
    canceled: bool
    interrupted: bool = False  # the process is stopping: no batch artifact; the job resumes later


def item_request_id(task_id: str, run_id: str, index: int, file: str) -> str:
    """First 32 hex of sha256(task_id|run_id|index|file): duplicate names never collide."""
    return hashlib.sha256(f"{task_id}|{run_id}|{index}|{file}".encode()).hexdigest()[:32]
