"""Reading artifacts: /v1/runs/item/{request_id} and the debug surface (SPEC §8), which is
registered only with DEBUG_MODE=1 (entrypoints/http/app.py)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from application.artifacts import ArtifactReader
from domain.auth import Principal, Scope, require_scopes
from domain.days import DAY_PATTERN, check_day
from domain.ids import day_of, utc_now
from entrypoints.http.openapi import AUTH, KEY, errors
from entrypoints.http.schemas import ArtifactListOut, ArtifactSummaryOut, PathId, RawOut


@get("/v1/runs/item/{request_id:str}", tags=["runs"], summary="One extract artifact",
     responses=errors(400, *AUTH, 404), security=KEY)
async def run_item(request: Request, request_id: PathId, principal: NamedDependency[Principal],
                   artifacts: NamedDependency[ArtifactReader]) -> dict[str, Any]:
    require_scopes(principal, Scope.EXTRACT_RUN)
    include_raw = principal.has_scope(Scope.DEBUG_READ_RAW)
    return await artifacts.read_extract(request_id, principal, include_raw=include_raw)


@get("/v1/debug/artifacts", tags=["debug"], summary="Extract artifacts of one day",
     responses=errors(400, *AUTH, 404), security=KEY)
async def list_artifacts(
    request: Request, principal: NamedDependency[Principal], artifacts: NamedDependency[ArtifactReader],
    date: Annotated[str | None, Parameter(pattern=DAY_PATTERN, schema_extra={"format": "date"},
                                          description="a calendar day written YYYY-MM-DD (2026-01-01, "
                                                      "not 2026-1-1: 400), default today (UTC)")] = None,
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
) -> ArtifactListOut:
    require_scopes(principal, Scope.DEBUG_READ_RAW)
    day = check_day(date, "date") if date is not None else day_of(utc_now())
    items = await artifacts.list_extracts(day, limit)
    return ArtifactListOut(date=day, items=[ArtifactSummaryOut(**i) for i in items])


@get("/v1/debug/artifacts/{request_id:str}", tags=["debug"], summary="One artifact, raw included",
     responses=errors(400, *AUTH, 404), security=KEY)
async def read_artifact(request: Request, request_id: PathId, principal: NamedDependency[Principal],
                        artifacts: NamedDependency[ArtifactReader]) -> dict[str, Any]:
    require_scopes(principal, Scope.DEBUG_READ_RAW)
    return await artifacts.read_extract(request_id, principal, include_raw=True)


@get("/v1/debug/artifacts/{request_id:str}/raw", tags=["debug"], summary="The model's raw text",
     responses=errors(400, *AUTH, 404), security=KEY)
async def read_raw(request: Request, request_id: PathId, principal: NamedDependency[Principal], artifacts: NamedDependency[ArtifactReader]) -> RawOut:
    require_scopes(principal, Scope.DEBUG_READ_RAW)
    artifact = await artifacts.read_extract(request_id, principal, include_raw=True)
    return RawOut(request_id=request_id, raw=artifact.get("raw"))
