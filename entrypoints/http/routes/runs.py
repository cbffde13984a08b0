"""Runs (SPEC §8): batch runs paged from the artifact index, and one run's artifact."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get
from litestar.di import NamedDependency
from litestar.params import Parameter

from application.artifacts import ArtifactReader
from domain.artifacts import ArtifactKind
from domain.auth import Principal, Scope, require_scopes
from domain.ids import format_ts
from entrypoints.http.openapi import AUTH, KEY, errors
from entrypoints.http.schemas import Cursor, PathId, RunListOut, RunSummaryOut


@get("/v1/runs", tags=["runs"], summary="Batch runs, newest first (own; admin: all)", responses=errors(400, *AUTH), security=KEY)
async def list_runs(principal: NamedDependency[Principal], artifacts: NamedDependency[ArtifactReader],
                    limit: Annotated[int, Parameter(ge=1, le=500)] = 50, cursor: Cursor = None) -> RunListOut:
    require_scopes(principal, Scope.EXTRACT_RUN)
    page = await artifacts.page(ArtifactKind.BATCH, principal, limit=limit, cursor=cursor or None)
    items = []
    for entry in page.items:
        s = entry.summary or {}
        items.append(RunSummaryOut(
            run_id=entry.artifact_id, created_at=format_ts(entry.created_at), task_id=s.get("task_id"),
            item_count=s.get("item_count"), ok_count=s.get("ok_count"), error_count=s.get("error_count"),
            artifact_rel=entry.rel_ref, eval_summary=s.get("eval_summary")))
    return RunListOut(items=items, next_cursor=page.next_cursor)


@get("/v1/runs/{run_id:str}", tags=["runs"], summary="One batch run's artifact", responses=errors(400, *AUTH, 404), security=KEY)
async def get_run(run_id: PathId, principal: NamedDependency[Principal],
                  artifacts: NamedDependency[ArtifactReader]) -> dict[str, Any]:
    require_scopes(principal, Scope.EXTRACT_RUN)
    return await artifacts.read(ArtifactKind.BATCH, run_id, principal)
