"""The analyze use case's input, settings, and the warnings a degraded step leaves."""

from __future__ import annotations

import msgspec

from domain.site.matching import CatalogItem
from domain.site.thresholds import MatchThresholds, ProdclassThresholds

SITE_TEXT_EMBED_CHARS = 6000
# The one optional call of an analysis (SPEC §9.1, ADR 0073): embedding the site text (and
# the class names) to verify the production class and guess one.
PRODCLASS_VERIFICATION_CALL = "prodclass_verification_embedding"


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


class SiteWarning(msgspec.Struct, frozen=True, kw_only=True):
    """An optional call that failed; the analysis went on without it (ADR 0073)."""

    call: str  # which call: PRODCLASS_VERIFICATION_CALL
    kind: str  # chat | embeddings
    model: str
    code: str  # the error code the call ended with (upstream_unavailable, …)
    message: str
    retryable: bool
