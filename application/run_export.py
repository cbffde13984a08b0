"""A run's artifacts as one tar.gz: the batch artifact, every item's extract artifact (raw
model text included) and the evals attached to it (issue 5, debug surface)."""

from __future__ import annotations

import asyncio
import io
import tarfile
import time
from typing import Any

import msgspec

from application.artifacts import ArtifactReader
from application.ports.blobs import BlobStore
from domain.artifacts import ArtifactKind
from domain.auth import Principal
from domain.errors import NotFoundError


class RunExporter:
    def __init__(self, *, artifacts: ArtifactReader, blobs: BlobStore) -> None:
        self._artifacts = artifacts
        self._blobs = blobs

    async def export(self, run_id: str, principal: Principal) -> bytes:
        run = await self._artifacts.read(ArtifactKind.BATCH, run_id, principal)
        files: list[tuple[str, bytes]] = [(f"{run_id}/batch.json", msgspec.json.encode(run))]
        for item in run.get("items", []):
            if item.get("artifact_rel"):
                try:
                    data = await self._blobs.get(item["artifact_rel"])
                except NotFoundError:
                    continue
                files.append((f"{run_id}/items/{item['request_id']}.json", data))
        eval_summary: dict[str, Any] | None = (await self._artifacts.summary(ArtifactKind.BATCH, run_id) or {}).get(
            "eval_summary")
        if eval_summary:
            try:
                evaluation = await self._artifacts.read(ArtifactKind.EVAL, eval_summary["eval_id"], principal)
                files.append((f"{run_id}/evals/{eval_summary['eval_id']}.json", msgspec.json.encode(evaluation)))
            except NotFoundError:
                pass  # another owner's eval of this run stays theirs
        return await asyncio.to_thread(_tar_gz, files)


def _tar_gz(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), now, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
