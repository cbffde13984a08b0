"""The request's cost (SPEC §9.5): every model call, failed attempts included."""

from __future__ import annotations

from typing import Any

from application.ports.chat import ModelCall
from domain.cost import PriceTable


def request_cost(calls: list[ModelCall], chat_model: str, prices: PriceTable) -> dict[str, Any]:
    breakdown, totals = [], {"input": 0, "cached": 0, "output": 0, "cost": 0.0}
    unpriced = set()
    for call in calls:
        u = call.usage
        cost = prices.call_cost(call.model, u.input_tokens, u.cached_input_tokens, u.output_tokens)
        if not cost.priced:
            unpriced.add(call.model)
        breakdown.append({"kind": call.kind, "model": call.model, "tokens_total": u.total,
                          "cost_usd": cost.cost_usd, "ok": call.ok, "priced": cost.priced})
        totals["input"] += u.input_tokens
        totals["cached"] += u.cached_input_tokens
        totals["output"] += u.output_tokens
        totals["cost"] += cost.cost_usd
    return {"model": chat_model, "input_tokens": totals["input"], "cached_input_tokens": totals["cached"],
            "output_tokens": totals["output"], "tokens_total": totals["input"] + totals["output"],
            "cost_usd": round(totals["cost"], 8), "request_cost_breakdown": breakdown,
            "unpriced_models": sorted(unpriced)}
