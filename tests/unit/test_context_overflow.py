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


# Issue 13, item 10: the wordings vLLM versions really answer with (vllm-project/vllm issues
# #5700, #10440, #12165, #20409, PR #36789, and the serving code of the 0.5–0.11 lines), as the
# body's "message" reaches the client.
VLLM_WORDINGS = [
    pytest.param("max_tokens must be at least 1, got -7584. (parameter=max_tokens, value=-7584)",
                 Overflow(None, None, excess=7584), id="v0.10-negative-max-tokens"),
    pytest.param("max_tokens must be at least 1, got -160.", Overflow(None, None, excess=160),
                 id="v0.5-negative-max-tokens"),
    pytest.param("max_tokens must be at least 1, got 0.", Overflow(None, None, excess=0), id="no-room-at-all"),
    pytest.param("The decoder prompt (length 9597) is longer than the maximum model length of 4096. Make sure "
                 "that `max_model_len` is no smaller than the number of text tokens plus multimodal tokens. For "
                 "image inputs, the number of image tokens depends on the number of images, and possibly their "
                 "aspect ratios as well.", Overflow(9597, 4096), id="v1-decoder-prompt"),
    pytest.param("The prompt (total length 25938) is too long to fit into the model (context length 4096). Make "
                 "sure that `max_model_len` is no smaller than the number of text tokens plus multimodal tokens.",
                 Overflow(25938, 4096), id="v0.6-prompt-too-long-to-fit"),
    pytest.param("This model's maximum context length is 16384 tokens. However, you requested 122946 tokens "
                 "(112946 in the messages, 10000 in the completion). Please reduce the length of the messages or "
                 "completion.", Overflow(112946, 16384), id="v0.4-messages-or-completion"),
    pytest.param("This model's maximum context length is 32768 tokens. However, your request has 40000 input "
                 "tokens. Please reduce the length of the input messages.", Overflow(40000, 32768),
                 id="v0.8-request-has-input-tokens"),
    pytest.param("This model's maximum context length is 8192 tokens. However, you requested 900 output tokens "
                 "and your prompt contains at least 7293 input tokens, for a total of at least 8193 tokens. Please "
                 "reduce the length of the input prompt or the number of requested output tokens. "
                 "(parameter=input_tokens, value=7293)", Overflow(7293, 8192), id="v0.11-at-least-input-tokens"),
    pytest.param("'max_tokens' or 'max_completion_tokens' is too large: 2000. This model's maximum context length "
                 "is 4096 tokens and your request has 2104 input tokens (2000 > 4096 - 2104).",
                 Overflow(2104, 4096), id="v0.10-max-tokens-too-large"),
    pytest.param("Input length (11680) exceeds model's maximum context length (4096).", Overflow(11680, 4096),
                 id="v0.17-input-length-exceeds"),
    pytest.param("Input length (66,275) exceeds model's maximum context length (65,536).", Overflow(66275, 65536),
                 id="grouped-digits"),
    pytest.param("Prompt length of 9597 is longer than the maximum model length of 4096.", Overflow(9597, 4096),
                 id="prompt-length-of"),
    pytest.param("Input prompt (35247 tokens) is too long and exceeds limit of 1000", Overflow(35247, 1000),
                 id="v0.6-scheduler-too-long"),
    pytest.param("Please reduce the length of the messages or completion.", Overflow(None, None),
                 id="advice-only"),
]


@pytest.mark.parametrize(("message", "expected"), VLLM_WORDINGS)
def test_parse_overflow_recognises_every_vllm_wording(message: str, expected: Overflow) -> None:
    assert parse_overflow(message) == expected


def test_an_excess_only_overflow_shrinks_as_if_the_prompt_filled_the_context_plus_the_excess() -> None:
    overflow = Overflow(None, None, excess=7584)
    factor = step_factor(overflow, max_model_len=4096, max_tokens=1024)
    assert factor == pytest.approx(math.sqrt((4096 - 1024 - 256) / (4096 + 7584)))
    assert step_factor(Overflow(None, None, excess=0), max_model_len=4096, max_tokens=1024) < DEFAULT_STEP * 2


@pytest.mark.parametrize(
    "message",
    ["max_tokens must be at least 1, got 5.", "temperature must be non-negative, got -1.0.",
     "Header value too long", "request_id is too long for the log", "model `qwen` not found",
     "The model `x` does not exist."],
)
def test_parse_overflow_ignores_look_alikes(message: str) -> None:
    assert parse_overflow(message) is None


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
