"""Model call cost (SPEC §9.5): a price table in USD per 1M tokens and the cost formula
``(input − cached)·in + cached·cached_in + output·out``, per 1M tokens (ADR 0067).

The table is the packaged ``domain/prices.json``; a deployment may build its own with
``PriceTable.from_mapping``. Dated names (``gpt-4o-2024-11-20``) are priced as their base
(``gpt-4o``); an unknown model costs 0 and comes back with ``priced = False``.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

import msgspec

PER_TOKENS = 1_000_000
COST_DECIMALS = 8
_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class ModelPrice(msgspec.Struct, frozen=True, kw_only=True):
    """USD per 1M tokens. ``cached_input`` None means no discount (the input price)."""

    input: float
    cached_input: float | None = None
    output: float = 0.0

    def __post_init__(self) -> None:
        for name in ("input", "cached_input", "output"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"price {name} must be a finite number ≥ 0, got {value}")


class CallCost(msgspec.Struct, frozen=True, kw_only=True):
    model: str
    base_model: str
    cost_usd: float
    priced: bool


def base_model(name: str) -> str:
    """The model a dated snapshot belongs to: a trailing ``-YYYY-MM-DD`` is removed and
    nothing else, so ``gpt-5-mini`` stays ``gpt-5-mini`` (never a shorter known prefix)."""
    return _DATE_SUFFIX.sub("", name.strip())


class PriceTable(msgspec.Struct, frozen=True):
    prices: dict[str, ModelPrice]

    @classmethod
    def load(cls) -> PriceTable:
        """The packaged table, read once per process."""
        return _packaged()

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> PriceTable:
        """``{"models": {name: {input, cached_input?, output?}}}`` (the file's shape) or
        the bare ``{name: {...}}`` mapping; keys starting with ``_`` are comments."""
        models = mapping.get("models", mapping)
        if not isinstance(models, Mapping):
            raise ValueError("price table: 'models' must be an object")
        prices = {name: msgspec.convert(entry, ModelPrice) for name, entry in models.items()
                  if not name.startswith("_") and isinstance(entry, Mapping)}
        return cls(prices)

    def price_of(self, model: str) -> tuple[str, ModelPrice] | None:
        """The table key and price for ``model``: the exact name, then its base name;
        each tried case-sensitively, then case-insensitively."""
        for name in dict.fromkeys((model.strip(), base_model(model))):
            if name in self.prices:
                return name, self.prices[name]
            folded = self._folded().get(name.casefold())
            if folded is not None:
                return folded, self.prices[folded]
        return None

    def call_cost(self, model: str, input_tokens: int, cached_input_tokens: int = 0,
                  output_tokens: int = 0) -> CallCost:
        found = self.price_of(model)
        if found is None:
            return CallCost(model=model, base_model=base_model(model), cost_usd=0.0, priced=False)
        key, price = found
        total_in = max(0, int(input_tokens))
        cached = min(max(0, int(cached_input_tokens)), total_in)  # cached tokens are part of input
        cached_price = price.input if price.cached_input is None else price.cached_input
        usd = ((total_in - cached) * price.input + cached * cached_price
               + max(0, int(output_tokens)) * price.output) / PER_TOKENS
        return CallCost(model=model, base_model=key, cost_usd=round(usd, COST_DECIMALS), priced=True)

    def _folded(self) -> dict[str, str]:
        return {name.casefold(): name for name in sorted(self.prices, reverse=True)}


def call_cost(model: str, input_tokens: int, cached_input_tokens: int = 0,
              output_tokens: int = 0) -> CallCost:
    """Cost of one call priced with the packaged table."""
    return PriceTable.load().call_cost(model, input_tokens, cached_input_tokens, output_tokens)


@functools.cache
def _packaged() -> PriceTable:
    text = resources.files("domain").joinpath("prices.json").read_text(encoding="utf-8")
    return PriceTable.from_mapping(json.loads(text))
