"""Context overflow: recognising vLLM's "prompt too long" answer and deciding how much to shrink.

An image costs tokens roughly in proportion to its pixel area, so when the server reports
that the prompt did not fit, the image area is scaled by ``budget / prompt_len`` (SPEC §6.4):
the linear factor applied to width and height is its square root, clamped to
[``MIN_STEP``, ``MAX_STEP``] so one answer can neither wipe the image out nor leave it the same.

The reported prompt length belongs to the image that was *sent*, which after a first shrink is
already scaled; each step therefore multiplies the cumulative factor, and the caller always
resizes the *original* image by that cumulative factor (no compounding of resampling loss).

When the message carries no usable lengths (other servers, future wording) the step is
``DEFAULT_STEP`` (0.5 linear, i.e. a quarter of the area): big enough to matter in one retry,
small enough to keep receipts legible.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

MIN_STEP = 0.10
MAX_STEP = 0.95
DEFAULT_STEP = 0.5
MAX_OVERFLOW_RETRIES = 3
MIN_OUTPUT_RESERVE = 512
SAFETY_MARGIN = 256

_MARKERS = (
    "maximum model length",
    "maximum context length",
    "too long to fit into the model",
)

_PROMPT_LEN = (
    re.compile(r"prompt \((?:total )?length (\d+)\)", re.I),
    re.compile(r"request has (\d+) input tokens", re.I),
    re.compile(r"(\d+) in the messages", re.I),
    re.compile(r"prompt length of (\d+)", re.I),
    re.compile(r"prompt \((\d+) tokens\)", re.I),
)
_MAX_LEN = (
    re.compile(r"maximum model length of (\d+)", re.I),
    re.compile(r"maximum context length is (\d+)", re.I),
    re.compile(r"context length (\d+)", re.I),
)


class Overflow(NamedTuple):
    """What the server said: the prompt length it counted and its context limit (either may be unknown)."""

    prompt_len: int | None
    max_len: int | None


def _first_int(patterns: tuple[re.Pattern[str], ...], text: str) -> int | None:
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return int(match.group(1))
    return None


def parse_overflow(message: str) -> Overflow | None:
    """``Overflow`` when ``message`` is a context-length complaint, else ``None``."""
    lowered = message.lower()
    if not any(marker in lowered for marker in _MARKERS):
        return None
    return Overflow(_first_int(_PROMPT_LEN, message), _first_int(_MAX_LEN, message))


def token_budget(overflow: Overflow, *, max_model_len: int, max_tokens: int) -> int:
    """Tokens the prompt may use: context minus room for the answer minus a margin."""
    limit = min(overflow.max_len, max_model_len) if overflow.max_len else max_model_len
    return limit - max(max_tokens, MIN_OUTPUT_RESERVE) - SAFETY_MARGIN


def step_factor(overflow: Overflow, *, max_model_len: int, max_tokens: int) -> float:
    """Linear factor for the image that was just rejected, in [MIN_STEP, MAX_STEP]."""
    if not overflow.prompt_len:
        return DEFAULT_STEP
    budget = token_budget(overflow, max_model_len=max_model_len, max_tokens=max_tokens)
    area = budget / overflow.prompt_len
    linear = math.sqrt(area) if area > 0 else 0.0
    return min(MAX_STEP, max(MIN_STEP, linear))


def next_scale(current: float, overflow: Overflow, *, max_model_len: int, max_tokens: int) -> float:
    """Cumulative linear factor to apply to the original image on the next attempt."""
    return current * step_factor(overflow, max_model_len=max_model_len, max_tokens=max_tokens)
