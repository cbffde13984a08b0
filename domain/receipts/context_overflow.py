"""Context overflow: recognising vLLM's "prompt too long" answer and deciding how much to shrink.

An image costs tokens roughly in proportion to its pixel area, so when the server reports
that the prompt did not fit, the image area is scaled by ``budget / prompt_len`` (SPEC §6.4):
the linear factor applied to width and height is its square root, clamped to
[``MIN_STEP``, ``MAX_STEP``] so one answer can neither wipe the image out nor leave it the same.

The reported prompt length belongs to the image that was *sent*, which after a first shrink is
already scaled; each step therefore multiplies the cumulative factor, and the caller always
resizes the *original* image by that cumulative factor (no compounding of resampling loss).

vLLM's wordings changed across versions ("The decoder prompt (length N) is longer than the
maximum model length of M", "This model's maximum context length is M tokens. However, ...",
"Input length (N) exceeds model's maximum context length (M)", and "max_tokens must be at least
1, got -N" when the server derives the room for the answer from what the prompt left);
``parse_overflow`` recognises them all and reads whatever lengths they carry.

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

# Every wording vLLM versions (and the OpenAI-compatible servers in front of them) use for "the
# prompt does not fit"; tests/unit/test_context_overflow.py holds the real messages.
_MARKERS = (
    re.compile(r"maximum model length", re.I),  # "The decoder prompt (length N) is longer than ..."
    re.compile(r"maximum context length", re.I),  # "This model's maximum context length is M tokens. ..."
    re.compile(r"too long to fit into the model", re.I),  # "The prompt (total length N) is too long to fit ..."
    re.compile(r"reduce the length of the (?:input )?(?:messages|prompt)", re.I),
    re.compile(r"\b(?:prompt|input)\b[^.]{0,80}\btoo long\b", re.I),  # "Input prompt (N tokens) is too long ..."
)
# vLLM derives the room left for the answer as context − prompt and refuses a result below 1:
# "max_tokens must be at least 1, got -7584." The client always asks for at least 1 token, so a
# value below 1 here is the prompt overflowing the context by that many tokens.
_NO_ROOM_LEFT = re.compile(r"max_tokens must be at least 1, got (-?\d[\d,]*)", re.I)

_N = r"(\d[\d,]*)"  # "66,275": some servers group the digits
_PROMPT_LEN = tuple(re.compile(p, re.I) for p in (
    rf"prompt \((?:total )?length {_N}\)",
    rf"request has {_N} input tokens",
    rf"{_N} in the messages",
    rf"prompt length of {_N}",
    rf"prompt \({_N} tokens\)",
    rf"at least {_N} input tokens",
    rf"input length \({_N}\)",
))
_MAX_LEN = tuple(re.compile(p, re.I) for p in (
    rf"maximum model length of {_N}",
    rf"maximum context length is {_N}",
    rf"maximum context length \({_N}\)",
    rf"context length {_N}",
    rf"exceeds limit of {_N}",
))


class Overflow(NamedTuple):
    """What the server said: the prompt length it counted and its context limit (either may be
    unknown), or only by how many tokens the prompt overflowed the context (``excess``)."""

    prompt_len: int | None
    max_len: int | None
    excess: int | None = None


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _first_int(patterns: tuple[re.Pattern[str], ...], text: str) -> int | None:
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return _int(match.group(1))
    return None


def parse_overflow(message: str) -> Overflow | None:
    """``Overflow`` when ``message`` is a context-length complaint, else ``None``."""
    no_room = _NO_ROOM_LEFT.search(message)
    if no_room is not None and _int(no_room.group(1)) < 1:
        return Overflow(None, None, excess=-_int(no_room.group(1)))
    if not any(marker.search(message) for marker in _MARKERS):
        return None
    return Overflow(_first_int(_PROMPT_LEN, message), _first_int(_MAX_LEN, message))


def token_budget(overflow: Overflow, *, max_model_len: int, max_tokens: int) -> int:
    """Tokens the prompt may use: context minus room for the answer minus a margin."""
    limit = min(overflow.max_len, max_model_len) if overflow.max_len else max_model_len
    return limit - max(max_tokens, MIN_OUTPUT_RESERVE) - SAFETY_MARGIN


def step_factor(overflow: Overflow, *, max_model_len: int, max_tokens: int) -> float:
    """Linear factor for the image that was just rejected, in [MIN_STEP, MAX_STEP]. Only the
    excess known: the prompt counted as the configured context plus that excess."""
    prompt_len = overflow.prompt_len
    if not prompt_len and overflow.excess is not None:
        prompt_len = (overflow.max_len or max_model_len) + overflow.excess
    if not prompt_len:
        return DEFAULT_STEP
    budget = token_budget(overflow, max_model_len=max_model_len, max_tokens=max_tokens)
    area = budget / prompt_len
    linear = math.sqrt(area) if area > 0 else 0.0
    return min(MAX_STEP, max(MIN_STEP, linear))


def next_scale(current: float, overflow: Overflow, *, max_model_len: int, max_tokens: int) -> float:
    """Cumulative linear factor to apply to the original image on the next attempt."""
    return current * step_factor(overflow, max_model_len=max_model_len, max_tokens=max_tokens)
