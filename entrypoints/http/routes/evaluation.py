"""Ground truths, evaluation against them, and a run's export (SPEC §8, issue 5)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, Parameter

from application.artifacts import ArtifactReader
from application.evaluation import Evaluator
from application.ground_truths import GroundTruthStore
from application.run_export import RunExporter
from domain.artifacts import ArtifactKind
from domain.auth import Principal, Scope, require_scopes
from domain.errors import InvalidInputError, UnsupportedMediaError
from domain.ids import check_id
from domain.json_nesting import decode_json
from entrypoints.http.openapi import (
    AUTH,
    KEY,
    GroundTruthCreateOperation,
    GroundTruthReplaceOperation,
    errors,
)
from entrypoints.http.schemas import (
    Cursor,
    EvalIn,
    EvalOut,
    FromRunIn,
    GroundTruthFullOut,
    GroundTruthListOut,
    GroundTruthOut,
    PathId,
    QueryId,
)

GT_ERRORS = errors(400, *AUTH, 404, 409, 413, 415, 422)


async def _gt_body(request: Request) -> tuple[Any, dict[str, str]]:
    """A ground truth as a JSON body, or as a JSON file in multipart field ``file``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or not hasattr(upload, "read"):
            raise InvalidInputError("multipart ground truths need a `file` field holding the JSON")
        raw = await upload.read()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    elif content_type in ("application/json", ""):
        raw, fields = await request.body(), {}
    else:
        raise UnsupportedMediaError("send the ground truth as application/json or multipart/form-data")
    try:
        return decode_json(raw), fields
    except msgspec.DecodeError:
        raise InvalidInputError("the ground truth is not valid JSON") from None


@post("/v1/ground_truths", tags=["evaluation"], summary="Upload a ground truth (JSON or multipart `file`)",
      status_code=201, responses=GT_ERRORS, security=KEY, operation_class=GroundTruthCreateOperation)
async def create_ground_truth(request: Request, principal: NamedDependency[Principal],
                              ground_truths: NamedDependency[GroundTruthStore],
                              gt_id: QueryId = None, name: FromQuery[str | None] = None) -> GroundTruthOut:
    require_scopes(principal, Scope.DEBUG_RUN)
    raw, fields = await _gt_body(request)
    made = await ground_truths.create(raw, principal, gt_id=fields.get("gt_id") or gt_id,
                                      name=fields.get("name") or name)
    return GroundTruthOut(**made)


@get("/v1/ground_truths", tags=["evaluation"], summary="The caller's ground truths", responses=errors(400, *AUTH),
     security=KEY)
async def list_ground_truths(principal: NamedDependency[Principal], ground_truths: NamedDependency[GroundTruthStore],
                             limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
                             cursor: Cursor = None) -> GroundTruthListOut:
    require_scopes(principal, Scope.DEBUG_RUN)
    items, next_cursor = await ground_truths.page(principal, limit=limit, cursor=cursor or None)
    return GroundTruthListOut(items=[GroundTruthOut(**i) for i in items], next_cursor=next_cursor)


@get("/v1/ground_truths/{gt_id:str}", tags=["evaluation"], summary="One ground truth with its records",
     responses=errors(400, *AUTH, 404), security=KEY)
async def get_ground_truth(gt_id: PathId, principal: NamedDependency[Principal],
                           ground_truths: NamedDependency[GroundTruthStore]) -> GroundTruthFullOut:
    require_scopes(principal, Scope.DEBUG_RUN)
    return GroundTruthFullOut(**await ground_truths.get(gt_id, principal))


@put("/v1/ground_truths/{gt_id:str}", tags=["evaluation"], summary="Replace a ground truth's records (new version)",
     responses=GT_ERRORS, security=KEY, operation_class=GroundTruthReplaceOperation)
async def replace_ground_truth(request: Request, gt_id: PathId, principal: NamedDependency[Principal],
                               ground_truths: NamedDependency[GroundTruthStore]) -> GroundTruthOut:
    require_scopes(principal, Scope.DEBUG_RUN)
    raw, _ = await _gt_body(request)
    return GroundTruthOut(**await ground_truths.replace(gt_id, raw, principal))


@delete("/v1/ground_truths/{gt_id:str}", tags=["evaluation"], summary="Delete a ground truth", status_code=204,
        responses=errors(400, *AUTH, 404), security=KEY)
async def delete_ground_truth(gt_id: PathId, principal: NamedDependency[Principal],
                              ground_truths: NamedDependency[GroundTruthStore]) -> None:
    require_scopes(principal, Scope.DEBUG_RUN)
    await ground_truths.delete(gt_id, principal)


@post("/v1/ground_truths/from_run", tags=["evaluation"], summary="A draft ground truth from a run's predictions",
      status_code=201, responses=GT_ERRORS, security=KEY)
async def ground_truth_from_run(data: JSONBody[FromRunIn], principal: NamedDependency[Principal],
                                artifacts: NamedDependency[ArtifactReader],
                                ground_truths: NamedDependency[GroundTruthStore]) -> GroundTruthOut:
    require_scopes(principal, Scope.DEBUG_RUN)
    run = await artifacts.read(ArtifactKind.BATCH, data.run_id, principal)
    records = [{"file": i["file"], **(i.get("parsed") or {})} for i in run.get("items", [])]
    if not records:
        raise InvalidInputError(f"run {data.run_id} has no items to draft from")
    made = await ground_truths.create(records, principal, gt_id=data.gt_id,
                                      name=data.name or f"draft from run {data.run_id}")
    return GroundTruthOut(**made)


@post("/v1/debug/eval/batch_vs_gt", tags=["debug"], summary="Evaluate a run against ground truth", status_code=200,
      responses=errors(400, *AUTH, 404, 422), security=KEY)
async def eval_batch_vs_gt(request: Request, data: JSONBody[EvalIn], principal: NamedDependency[Principal],
                           evaluator: NamedDependency[Evaluator]) -> EvalOut:
    require_scopes(principal, Scope.DEBUG_RUN)
    body = await evaluator.evaluate_run(principal, run_id=data.run_id, gt=data.gt, gt_id=data.gt_id,
                                        batch_date=data.batch_date, str_mode=data.str_mode,
                                        default_currency=data.default_currency)
    return msgspec.convert({k: v for k, v in body.items() if k != "auth"}, EvalOut)


@get("/v1/debug/runs/{run_id:str}/export", tags=["debug"], summary="A run's artifacts as tar.gz",
     responses=errors(400, *AUTH, 404), media_type="application/gzip", security=KEY)
async def export_run(request: Request, run_id: PathId, principal: NamedDependency[Principal],
                     exporter: NamedDependency[RunExporter]) -> Response[bytes]:
    require_scopes(principal, Scope.DEBUG_READ_RAW)
    data = await exporter.export(check_id(run_id, "run_id"), principal)
    return Response(data, media_type="application/gzip",
                    headers={"Content-Disposition": f'attachment; filename="run-{run_id}.tar.gz"'})
