"""POST /v1/analyze/json and GET /v1/billing/remaining (SPEC §9)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody

from application.analyze_site import SiteAnalyzer
from application.analyze_site_types import AnalyzeCommand
from application.billing import BillingService
from application.request_context import current_request_id
from application.site_catalogs import parse_catalog
from domain.auth import Principal, Scope, require_scopes
from entrypoints.http.openapi import AUTH, KEY, errors
from entrypoints.http.site_schemas import AnalyzeIn, AnalyzeOut, BillingSummaryOut


def to_command(data: AnalyzeIn, request_id: str, settings: Any) -> AnalyzeCommand:
    return AnalyzeCommand(
        request_id=request_id, text_par=data.text_par, pars_id=data.pars_id, company_id=data.company_id,
        company_name=data.company_name, okved=data.okved, chat_model=data.chat_model or settings.chat_model,
        embed_model=data.embed_model or settings.openai_embed_model,
        goods_catalog=parse_catalog(data.goods_catalog, "goods_catalog"),
        equipment_catalog=parse_catalog(data.equipment_catalog, "equipment_catalog"),
        return_prompt=data.return_prompt, return_answer_raw=data.return_answer_raw,
    )


@post("/v1/analyze/json", tags=["site"], summary="Analyse a company's site text", status_code=200,
      responses=errors(400, *AUTH, 413, 422, 502, 503, 504), security=KEY)
async def analyze(request: Request, data: JSONBody[AnalyzeIn], principal: NamedDependency[Principal],
                  analyzer: NamedDependency[SiteAnalyzer]) -> AnalyzeOut:
    require_scopes(principal, Scope.EXTRACT_RUN)
    cmd = to_command(data, current_request_id.get(), request.app.state.services.settings)
    return msgspec.convert(await analyzer.run(cmd, principal), AnalyzeOut)


@get("/v1/billing/remaining", tags=["site"], summary="Month-to-date spend and what is left",
     responses=errors(400, *AUTH), security=KEY)
async def billing_remaining(principal: NamedDependency[Principal], billing: NamedDependency[BillingService],
                            project_id: FromQuery[str | None] = None) -> BillingSummaryOut:
    require_scopes(principal, Scope.EXTRACT_RUN)
    return msgspec.convert(await billing.summary(project_id or None), BillingSummaryOut)
