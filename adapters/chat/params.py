"""Which sampling parameters a model accepts (ADR 0070).

Reasoning models (gpt-5*, o1*, o3*, o4*) reject a non-default ``temperature`` and want
``max_completion_tokens`` instead of ``max_tokens``, so those are never sent to them. Any other
model that answers 400 naming a parameter we sent as unsupported gets it dropped (or the token
limit renamed) on an immediate retry, and the refusal is remembered per model.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from adapters.openai_http.transport import Failure

OPTIONAL = ("temperature", "max_tokens", "max_completion_tokens")
_REASONING = re.compile(r"^(?:gpt-5|o[134])(?:$|[-.:_])")
_CODES = frozenset({"unsupported_value", "unsupported_parameter", "unknown_parameter"})
_QUOTED = r"['\"`]?(\w+)['\"`]?"
_MESSAGES = (
    re.compile(r"unsupported (?:parameter|value)\W+" + _QUOTED, re.IGNORECASE),
    re.compile(r"unrecognized request arguments? supplied\W+" + _QUOTED, re.IGNORECASE),
    re.compile(_QUOTED + r" (?:is not supported|does not support|is unsupported)", re.IGNORECASE),
)


def is_reasoning_model(model: str) -> bool:
    """``gpt-5``, ``gpt-5-mini-2025-08-07``, ``o3``, ``o4-mini``, ``openai/o1``…"""
    return bool(_REASONING.match(model.rsplit("/", 1)[-1].strip().lower()))


def rejected_parameter(failure: Failure) -> str | None:
    """The optional parameter a 400 answer refuses, or ``None`` when it says something else."""
    if failure.http_status != 400:
        return None
    error = failure.error or {}
    param = error.get("param")
    text = failure.message
    if param in OPTIONAL and (error.get("code") in _CODES or "support" in text.lower()):
        return param
    for pattern in _MESSAGES:
        for found in pattern.findall(text):
            if found in OPTIONAL:
                return found
    return None


class SamplingParams:
    """The optional request fields for a model, learning what each model refuses."""

    def __init__(
        self, *, temperature: float | None, max_tokens: int | None, memory: int = 256
    ) -> None:
        self._temperature = temperature
        self._max_tokens = max_tokens
        self._memory = memory
        # model → refused parameters; bounded because model names come from requests.
        self._refused: OrderedDict[str, frozenset[str]] = OrderedDict()

    def refused(self, model: str) -> frozenset[str]:
        return self._refused.get(model, frozenset())

    def for_model(self, model: str) -> dict[str, Any]:
        refused = self.refused(model)
        reasoning = is_reasoning_model(model)
        params: dict[str, Any] = {}
        if self._temperature is not None and not reasoning and "temperature" not in refused:
            params["temperature"] = self._temperature
        if self._max_tokens is not None:
            order = ("max_completion_tokens", "max_tokens") if reasoning else OPTIONAL[1:]
            name = next((n for n in order if n not in refused), None)
            if name is not None:
                params[name] = self._max_tokens
        return params

    def learn(self, model: str, failure: Failure, sent: Mapping[str, Any]) -> str | None:
        """Remember a parameter the server refused; ``None`` if the failure is not that (or the
        parameter was not in the request, so dropping it cannot help)."""
        param = rejected_parameter(failure)
        if param is None or param not in sent:
            return None
        self._refused[model] = self.refused(model) | {param}
        self._refused.move_to_end(model)
        while len(self._refused) > self._memory:
            self._refused.popitem(last=False)
        return param
