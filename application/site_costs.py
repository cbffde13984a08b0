"""The request's cost (SPEC §9.1, §9.5). The headline fields describe the LLM chat call, from
its ``usage``, as the original clients read them; ``total_cost_usd`` and the breakdown cover
every model call of the request, embeddings and failed attempts included."""

from __future__ import annotations

import msgspec

from application.ports.chat import ModelCall
from domain.cost import PriceTable


class CostLine(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # chat | embeddings
    model: str
    tokens_total: int
    cost_usd: float
    ok: bool
    priced: bool


class RequestCost(msgspec.Struct, frozen=True, kw_only=True):
    model: str
    input_tokens: int  # the chat call's prompt tokens, cached ones included
    cached_input_tokens: int
    output_tokens: int
    tokens_total: int
    cost_usd: float  # the chat call's cost
    total_cost_usd: float  # every call: chat, embeddings, failed attempts
    request_cost_breakdown: list[CostLine]
    unpriced_models: list[str]


def request_cost(calls: list[ModelCall], chat_model: str, prices: PriceTable) -> RequestCost:
    """The chat figures sum the chat calls that answered: one on success (failed attempts
    report no usage, or tokens of an unusable answer, and count in the total only); none
    when the chat call failed, so they are 0."""
    breakdown: list[CostLine] = []
    chat_in = chat_cached = chat_out = 0
    chat_cost = total = 0.0
    unpriced = set()
    for call in calls:
        u = call.usage
        cost = prices.call_cost(call.model, u.input_tokens, u.cached_input_tokens, u.output_tokens)
        if not cost.priced:
            unpriced.add(call.model)
        breakdown.append(CostLine(kind=call.kind, model=call.model, tokens_total=u.total,
                                  cost_usd=cost.cost_usd, ok=call.ok, priced=cost.priced))
        total += cost.cost_usd
        if call.kind == "chat" and call.ok:
            chat_in += u.input_tokens
            chat_cached += u.cached_input_tokens
            chat_out += u.output_tokens
            chat_cost += cost.cost_usd
    return RequestCost(
        model=chat_model, input_tokens=chat_in, cached_input_tokens=chat_cached, output_tokens=chat_out,
        tokens_total=chat_in + chat_out, cost_usd=round(chat_cost, 8), total_cost_usd=round(total, 8),
        request_cost_breakdown=breakdown, unpriced_models=sorted(unpriced),
    )
