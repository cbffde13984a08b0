"""Shaping the analyze response (SPEC §9.1): ``parsed`` with the downstream row previews,
``prodclass``, the matched items, ``counts`` (integers only), the warnings of degraded steps,
and ``db_payload`` for the Postgres writer."""

from __future__ import annotations

from typing import Any

import msgspec

from application.analyze_site_types import AnalyzeCommand, SiteWarning
from domain.site.answer import SiteAnswer
from domain.site.matching import MatchedItem
from domain.site.prodclass_resolution import ProdclassResolution
from domain.site.vectors import vector_payload

EQUIPMENT_SOURCE = "EQUIPMENT_SITE"  # the one answer list equipment comes from


def matched_out(item: MatchedItem, source: str | None) -> dict[str, Any]:
    """``source``: the answer list the item came from (``GOODS_TYPE``/``GOODS`` for goods, None
    for equipment, as the original clients read it); ``match_method``: how it was matched."""
    return {"text": item.text, "match_id": item.match_id, "score": item.score, "source": source,
            "match_method": item.match_method, "vector": vector_payload(item.vector)}


def score_error(resolution: ProdclassResolution, warnings: list[SiteWarning]) -> str | None:
    """Why the production class score could not be established, or None when it was."""
    if resolution.score_source != "not_available":
        return None
    failed = "; ".join(f"{w.call} failed ({w.code}): {w.message}" for w in warnings)
    return failed or "the model gave no score and no embedding score was available"


def _rows(items: list[dict[str, Any]], pars_id: int | None, kind: str) -> list[dict[str, Any]]:
    name, id_key, score_key = (("goods_type", "goods_type_ID", "goods_types_score") if kind == "goods"
                               else ("equipment", "equipment_ID", "equipment_score"))
    return [{"text_par_id": pars_id, name: i["text"], id_key: i["match_id"], score_key: i["score"],
             "text_vector": i["vector"]["literal"], "vector_dim": i["vector"]["dim"]} for i in items]


def build_response(*, cmd: AnalyzeCommand, prompt: str, reply_text: str, answer: SiteAnswer, goods: list[str],
                   resolution: ProdclassResolution, description_vector: list[float] | None,
                   goods_items: list[MatchedItem], equipment_items: list[MatchedItem],
                   catalog_info: dict[str, dict[str, int]], timings: dict[str, int],
                   warnings: list[SiteWarning]) -> dict[str, Any]:
    goods_out = [matched_out(i, answer.goods_type_source) for i in goods_items]
    equipment_out = [matched_out(i, None) for i in equipment_items]
    prodclass = {"id": resolution.id, "score": resolution.score, "title": resolution.title,
                 "score_source": resolution.score_source, "source": resolution.source}
    description = vector_payload(description_vector)
    parsed = {
        "DESCRIPTION": answer.description, "DESCRIPTION_SCORE": answer.description_score,
        "OKVED_SCORE": answer.okved_score, "PRODCLASS": resolution.id, "PRODCLASS_SCORE": resolution.score,
        "PRODCLASS_SOURCE": resolution.source, "PRODCLASS_SCORE_SOURCE": resolution.score_source,
        "PRODCLASS_EMBED_GUESS": resolution.embed_guess_id,
        "PRODCLASS_EMBED_GUESS_SCORE": resolution.embed_guess_score, "PRODCLASS_TITLE": resolution.title,
        "EQUIPMENT_LIST": answer.equipment, "GOODS_LIST": answer.goods, "GOODS_TYPE_LIST": goods,
        "GOODS_TYPE_SOURCE": answer.goods_type_source, "EQUIPMENT_SOURCE": EQUIPMENT_SOURCE,
        "LLM_ANSWER": reply_text,
        **{f"{tag}_RAW": text for tag, text in answer.sections.items()},
        "EQUIPMENT_RAW": answer.sections.get("EQUIPMENT_SITE", ""),  # the original's name for it
        "AI_SITE_GOODS_TYPES": _rows(goods_out, cmd.pars_id, "goods"),
        "AI_SITE_EQUIPMENT": _rows(equipment_out, cmd.pars_id, "equipment"),
    }
    error = score_error(resolution, warnings)
    if error is not None:
        parsed["PRODCLASS_SCORE_ERROR"] = error
    goods_info, equip_info = catalog_info["goods"], catalog_info["equipment"]
    counts = {
        # The lengths of the lists used; which lists they were is in parsed *_SOURCE.
        "goods_source": len(goods), "equip_source": len(answer.equipment),
        "goods_enriched": sum(1 for i in goods_out if i["vector"]["dim"]),
        "equip_enriched": sum(1 for i in equipment_out if i["vector"]["dim"]),
        "goods_matched": sum(1 for i in goods_out if i["match_id"] is not None),
        "equip_matched": sum(1 for i in equipment_out if i["match_id"] is not None),
        **{f"goods_catalog_{k}": v for k, v in goods_info.items() if k != "size"},
        **{f"equipment_catalog_{k}": v for k, v in equip_info.items() if k != "size"},
    }
    return {
        "pars_id": cmd.pars_id, "prompt": prompt if cmd.return_prompt else None, "prompt_len": len(prompt),
        "answer_raw": reply_text if cmd.return_answer_raw else None, "answer_len": len(reply_text),
        "description": answer.description, "parsed": parsed, "prodclass": prodclass,
        "description_vector": description, "goods_items": goods_out, "equipment_items": equipment_out,
        "counts": counts, "timings": dict(timings),
        "catalogs": {"goods": goods_info["size"], "equipment": equip_info["size"]},
        "request_cost": None, "billing_summary": None,
        "warnings": [msgspec.to_builtins(w) for w in warnings],
        "db_payload": {"description": answer.description, "description_vector": description,
                       "prodclass": prodclass, "goods_types": goods_out, "equipment": equipment_out,
                       "llm_answer": reply_text},
    }
