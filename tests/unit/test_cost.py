"""Cost of model calls, SPEC §9.5: the price table, dated names, the formula, unknown models."""

from __future__ import annotations

import pytest

from domain.cost import CallCost, ModelPrice, PriceTable, base_model, call_cost


# 1,000,000 input tokens of which 200,000 cached, 500,000 output tokens, worked by hand:
# (1e6 - 2e5)·in + 2e5·cached_in + 5e5·out, per 1M tokens.
@pytest.mark.parametrize(("model", "expected"), [
    ("gpt-4o", 0.8 * 2.50 + 0.2 * 1.25 + 0.5 * 10.00),  # 2.0 + 0.25 + 5.0
    ("gpt-4o-mini", 0.8 * 0.15 + 0.2 * 0.075 + 0.5 * 0.60),  # 0.12 + 0.015 + 0.3
    ("gpt-5", 0.8 * 1.25 + 0.2 * 0.125 + 0.5 * 10.00),  # 1.0 + 0.025 + 5.0
    ("gpt-5-mini", 0.8 * 0.25 + 0.2 * 0.025 + 0.5 * 2.00),  # 0.2 + 0.005 + 1.0
    ("gpt-5-pro", 0.8 * 15 + 0.2 * 0 + 0.5 * 120),  # 12 + 0 + 60
])
def test_chat_model_rows(model: str, expected: float) -> None:
    cost = call_cost(model, 1_000_000, 200_000, 500_000)
    assert cost == CallCost(model=model, base_model=model, cost_usd=round(expected, 8), priced=True)


def test_chat_model_rows_literal_values() -> None:
    assert [call_cost(m, 1_000_000, 200_000, 500_000).cost_usd
            for m in ("gpt-4o", "gpt-4o-mini", "gpt-5", "gpt-5-mini", "gpt-5-pro")] == \
        [7.25, 0.435, 6.025, 1.205, 72.0]


@pytest.mark.parametrize(("model", "per_million"), [
    ("text-embedding-3-small", 0.02), ("text-embedding-3-large", 0.13)])
def test_embedding_models_are_priced_on_input_only(model: str, per_million: float) -> None:
    assert call_cost(model, 1_000_000).cost_usd == per_million
    assert call_cost(model, 500_000).cost_usd == per_million / 2
    assert call_cost(model, 1_000_000, 200_000, 0).cost_usd == per_million  # no cached discount


def test_small_calls() -> None:
    # 1234 · 0.15 / 1e6 + 567 · 0.60 / 1e6 = 0.0001851 + 0.0003402
    assert call_cost("gpt-4o-mini", 1234, 0, 567).cost_usd == 0.0005253
    # 3000 · 2.50 / 1e6 (2000 uncached) + 1000 · 1.25 / 1e6 + 100 · 10 / 1e6 = 0.005 + 0.00125 + 0.001
    assert call_cost("gpt-4o", 3000, 1000, 100).cost_usd == 0.00725
    assert call_cost("text-embedding-3-small", 1).cost_usd == 0.00000002


def test_cost_is_rounded_to_8_decimals() -> None:
    assert call_cost("gpt-4o-mini", 0, 0, 1).cost_usd == 0.0000006
    assert call_cost("gpt-4o", 1, 0, 0).cost_usd == 0.0000025
    assert call_cost("gpt-5-mini", 0, 0, 0).cost_usd == 0.0


@pytest.mark.parametrize(("name", "base"), [
    ("gpt-4o-2024-11-20", "gpt-4o"),
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("gpt-5-2025-08-07", "gpt-5"),
    ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
    ("gpt-5-mini", "gpt-5-mini"),
    ("gpt-5-pro", "gpt-5-pro"),
    ("gpt-5-nano", "gpt-5-nano"),
    ("Qwen/Qwen3-VL-8B-Instruct", "Qwen/Qwen3-VL-8B-Instruct"),
])
def test_base_model_strips_only_a_date_suffix(name: str, base: str) -> None:
    assert base_model(name) == base


def test_dated_names_are_priced_as_their_base() -> None:
    assert call_cost("gpt-4o-2024-11-20", 1_000_000, 0, 0) == CallCost(
        model="gpt-4o-2024-11-20", base_model="gpt-4o", cost_usd=2.5, priced=True)
    assert call_cost("gpt-4o-mini-2024-07-18", 1_000_000, 0, 1_000_000).cost_usd == 0.75
    assert call_cost("gpt-5-mini-2025-08-07", 0, 0, 1_000_000).cost_usd == 2.0


def test_unknown_models_cost_nothing_and_are_flagged() -> None:
    assert call_cost("gpt-5-nano", 1_000_000, 0, 1_000_000) == CallCost(
        model="gpt-5-nano", base_model="gpt-5-nano", cost_usd=0.0, priced=False)
    assert not call_cost("mock-256", 10).priced
    assert not call_cost("", 10).priced


def test_names_are_matched_case_insensitively() -> None:
    assert call_cost("GPT-4o", 1_000_000).base_model == "gpt-4o"


def test_self_hosted_models_may_be_priced_at_zero() -> None:
    assert call_cost("Qwen/Qwen3-VL-8B-Instruct", 10_000, 0, 500) == CallCost(
        model="Qwen/Qwen3-VL-8B-Instruct", base_model="Qwen/Qwen3-VL-8B-Instruct", cost_usd=0.0, priced=True)


def test_cached_tokens_never_exceed_input_and_negatives_count_as_zero() -> None:
    assert call_cost("gpt-4o", 100, 500, 0).cost_usd == 100 * 1.25 / 1e6
    assert call_cost("gpt-4o", -5, -1, -9).cost_usd == 0.0


def test_the_packaged_table_is_exactly_the_spec_table() -> None:
    table = PriceTable.load()
    assert table is PriceTable.load()
    p = table.prices
    assert p["gpt-4o"] == ModelPrice(input=2.5, cached_input=1.25, output=10.0)
    assert p["gpt-4o-mini"] == ModelPrice(input=0.15, cached_input=0.075, output=0.6)
    assert p["gpt-5"] == ModelPrice(input=1.25, cached_input=0.125, output=10.0)
    assert p["gpt-5-mini"] == ModelPrice(input=0.25, cached_input=0.025, output=2.0)
    assert p["gpt-5-pro"] == ModelPrice(input=15.0, cached_input=0.0, output=120.0)
    assert p["text-embedding-3-small"] == ModelPrice(input=0.02)
    assert p["text-embedding-3-large"] == ModelPrice(input=0.13)


def test_from_mapping_accepts_the_file_shape_and_a_bare_mapping() -> None:
    doc = {"_comment": "x", "currency": "USD", "models": {"_note": "y", "my-llm": {"input": 1, "output": 2}}}
    for table in (PriceTable.from_mapping(doc), PriceTable.from_mapping(doc["models"])):
        assert set(table.prices) == {"my-llm"}
        cost = table.call_cost("my-llm-2025-01-31", 1_000_000, 500_000, 1_000_000)
        assert (cost.base_model, cost.cost_usd, cost.priced) == ("my-llm", 3.0, True)  # cached = input price
        assert not table.call_cost("gpt-4o", 1).priced


@pytest.mark.parametrize("entry", [{"input": -1}, {"input": 1, "output": float("inf")}, {"output": 1}, {"input": "x"}])
def test_bad_prices_are_rejected(entry: dict) -> None:
    with pytest.raises(ValueError):
        PriceTable.from_mapping({"models": {"m": entry}})
