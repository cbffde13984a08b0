"""The analyze use case's input and settings."""

from __future__ import annotations

import msgspec

from domain.site.matching import CatalogItem
from domain.site.thresholds import MatchThresholds, ProdclassThresholds

SITE_TEXT_EMBED_CHARS = 6000


class AnalyzeCommand(msgspec.Struct, frozen=True, kw_only=True):
    request_id: str
    text_par: str
    pars_id: int | None = None
    company_id: int | None = None
    company_name: str | None = None
    okved: str | None = None
    chat_model: str
    embed_model: str
    goods_catalog: list[CatalogItem] = []
    equipment_catalog: list[CatalogItem] = []
    return_prompt: bool = False
    return_answer_raw: bool = True


class AnalyzeConfig(msgspec.Struct, frozen=True, kw_only=True):
    prodclass: ProdclassThresholds = ProdclassThresholds()
    matching: MatchThresholds = MatchThresholds()
    billing_wait_s: float = 2.0
