from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.receipts.context_overflow import (
    DEFAULT_STEP,
    MAX_STEP,
    MIN_STEP,
    Overflow,
    next_scale,
    parse_overflow,
    step_factor,
    token_budget,
)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "The decoder prompt (length 9597) is longer than the maximum model length of 4096. "
            "Make sure that `max_model_len` is no smaller than the number of text tokens plus "
            "multimodal tokens.",
            Overflow(9597, 4096),
        ),
        (
            "This model's maximum context length is 4096 tokens. However, your request has 5000 "
            "input tokens. Please reduce the length of the input messages.",
            Overflow(5000, 4096),
        ),
        (
            "This model's maximum context length is 4096 tokens. However, you requested 6024 "
            "tokens (5000 in the messages, 1024 in the completion).",
            Overflow(5000, 4096),
        ),
        (
            "The prompt (total length 8000) is too long to fit into the model (context length 4096).",
            Overflow(8000, 4096),
        ),
        ("Input is longer than the maximum model length", Overflow(None, None)),
        ("exceeds the Maximum Context Length of this deployment", Overflow(None, None)),
    ],
)
def test_parse_overflow_recognises_vllm_messages(message: str, expected: Overflow) -> None:
    assert parse_overflow(message) == expected


@pytest.mark.parametrize(
    "message",
    ["", "Invalid image", "response_format is not supported", "length 9597 of something"],
)
def test_parse_overflow_ignores_other_errors(message: str) -> None:
    assert parse_overflow(message) is None


def test_budget_uses_smaller_limit_and_reserves_output() -> None:
    overflow = Overflow(9597, 8192)
    assert token_budget(overflow, max_model_len=4096, max_tokens=1024) == 4096 - 1024 - 256
    assert token_budget(overflow, max_model_len=4096, max_tokens=100) == 4096 - 512 - 256
    assert token_budget(Overflow(9597, None), max_model_len=4096, max_tokens=0) == 3328


def test_step_factor_is_sqrt_of_area_ratio() -> None:
    factor = step_factor(Overflow(9597, 4096), max_model_len=4096, max_tokens=1024)
    assert factor == pytest.approx(math.sqrt((4096 - 1024 - 256) / 9597))


def test_step_factor_clamps() -> None:
    assert step_factor(Overflow(10**7, 4096), max_model_len=4096, max_tokens=1024) == MIN_STEP
    assert step_factor(Overflow(100, 4096), max_model_len=4096, max_tokens=1024) == MAX_STEP
    # budget below zero (max_tokens eats the context) still yields the minimum, not an error
    assert step_factor(Overflow(3000, 4096), max_model_len=4096, max_tokens=5000) == MIN_STEP


def test_unknown_lengths_use_default() -> None:
    assert step_factor(Overflow(None, 4096), max_model_len=4096, max_tokens=1024) == DEFAULT_STEP
    assert step_factor(Overflow(None, None), max_model_len=4096, max_tokens=1024) == DEFAULT_STEP


def test_scale_is_cumulative() -> None:
    first = next_scale(1.0, Overflow(9597, 4096), max_model_len=4096, max_tokens=1024)
    second = next_scale(first, Overflow(None, None), max_model_len=4096, max_tokens=1024)
    assert second == pytest.approx(first * DEFAULT_STEP)


@given(
    prompt_len=st.one_of(st.none(), st.integers(min_value=0, max_value=10**7)),
    max_len=st.one_of(st.none(), st.integers(min_value=0, max_value=10**6)),
    max_model_len=st.integers(min_value=1, max_value=10**6),
    max_tokens=st.integers(min_value=0, max_value=10**6),
    current=st.floats(min_value=1e-6, max_value=1.0),
)
def test_step_and_scale_bounds(
    prompt_len: int | None, max_len: int | None, max_model_len: int, max_tokens: int, current: float
) -> None:
    overflow = Overflow(prompt_len, max_len)
    factor = step_factor(overflow, max_model_len=max_model_len, max_tokens=max_tokens)
    assert MIN_STEP <= factor <= MAX_STEP
    scale = next_scale(current, overflow, max_model_len=max_model_len, max_tokens=max_tokens)
    assert 0 < scale < current


@given(st.text())
def test_parse_overflow_never_raises(text: str) -> None:
    result = parse_overflow(text)
    assert result is None or isinstance(result, Overflow)
