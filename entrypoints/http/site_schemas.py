"""Wire schemas of site analysis and billing (SPEC §9.1, §9.5)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

PositiveId = Annotated[int, msgspec.Meta(ge=1)]
GoodsSource = Annotated[Literal["GOODS_TYPE", "GOODS"], msgspec.Meta(
    description="The answer list the item came from: GOODS_TYPE, or GOODS when GOODS_TYPE was empty.")]
EquipmentSource = Annotated[None, msgspec.Meta(
    description="Always null for equipment (the original clients' meaning of `source`).")]
MatchMethod = Annotated[
    Literal["exact_catalog_name", "embedding", "embedding_below_threshold", "no_catalog"],
    msgspec.Meta(description="How the item was matched to the catalog.")]


class AnalyzeIn(msgspec.Struct):
    """Unknown fields are ignored. Catalogs: an array of {id, name, vec} or {"items": [...]}, or null;
    ``vec`` is an array of numbers, a pgvector literal "[0.1,-0.2]", {values, literal} or null."""

    text_par: Annotated[str, msgspec.Meta(extra_json_schema={"extra": {"pattern": r"\S"}})]  # blank: 400
    pars_id: PositiveId | None = None
    company_id: PositiveId | None = None
    company_name: str | None = None
    okved: str | None = None
    chat_model: str | None = None
    embed_model: str | None = None
    goods_catalog: Any = None
    equipment_catalog: Any = None
    return_prompt: bool = False
    return_answer_raw: bool = True


class VectorPayloadOut(msgspec.Struct):
    values: list[float] | None
    literal: str | None
    dim: int


class ProdclassOut(msgspec.Struct):
    id: int
    score: float
    title: str
    score_source: str
    source: str


class GoodsItemOut(msgspec.Struct):
    """A MatchedItem of goods (SPEC §9.1)."""

    text: str
    match_id: int | None
    score: float | None
    source: GoodsSource
    match_method: MatchMethod
    vector: VectorPayloadOut


class EquipmentItemOut(msgspec.Struct):
    """A MatchedItem of equipment (SPEC §9.1)."""

    text: str
    match_id: int | None
    score: float | None
    source: EquipmentSource
    match_method: MatchMethod
    vector: VectorPayloadOut


class CostLineOut(msgspec.Struct):
    kind: str
    model: str
    tokens_total: int
    cost_usd: float
    ok: bool
    priced: bool


class RequestCostOut(msgspec.Struct):
    """``model`` … ``cost_usd`` describe the LLM chat call (from its usage); ``total_cost_usd``
    and ``request_cost_breakdown`` cover every call of the request, failed attempts included."""

    model: str
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    tokens_total: int
    cost_usd: float
    total_cost_usd: float
    request_cost_breakdown: list[CostLineOut]
    unpriced_models: list[str]


class SiteWarningOut(msgspec.Struct):
    """An optional call that failed; the analysis went on without it (ADR 0073)."""

    call: str
    kind: str
    model: str
    code: str
    message: str
    retryable: bool


class BillingSummaryOut(msgspec.Struct):
    currency: str
    period_start: int
    period_end: int
    spent_usd: float | None
    month_to_date_spend_usd: float | None
    spend_month_to_date_usd: float | None
    limit_usd: float | None
    budget_monthly_usd: float | None
    prepaid_credits_usd: float | None
    remaining_usd: float | None
    configured: bool
    error: str | None


class DbPayloadOut(msgspec.Struct):
    description: str
    description_vector: VectorPayloadOut
    prodclass: ProdclassOut
    goods_types: list[GoodsItemOut]
    equipment: list[EquipmentItemOut]
    llm_answer: str


class AnalyzeOut(msgspec.Struct):
    pars_id: int | None
    prompt: str | None
    prompt_len: int
    answer_raw: str | None
    answer_len: int
    description: str
    parsed: dict[str, Any]
    prodclass: ProdclassOut
    description_vector: VectorPayloadOut
    goods_items: list[GoodsItemOut]
    equipment_items: list[EquipmentItemOut]
    counts: Annotated[dict[str, int], msgspec.Meta(
        description="Integer counters only; goods_source / equip_source are the lengths of the lists used.")]
    timings: dict[str, int]
    catalogs: dict[str, int]
    request_cost: RequestCostOut
    billing_summary: BillingSummaryOut | None
    warnings: list[SiteWarningOut]
    db_payload: DbPayloadOut
