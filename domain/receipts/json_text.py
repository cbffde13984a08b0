"""Recover the JSON object a model meant to return from its raw text (SPEC §6.4).

Order: the whole text; else the first ```/```json code fence whose body is a JSON
object; else the first balanced ``{...}`` that parses. The last step uses
``JSONDecoder.raw_decode`` at each "{": it scans strings and escapes exactly as
JSON does, so it finds the same span a string-aware brace matcher would, and
stops at the object's own closing brace.
"""

from __future__ import annotations

import json
import re
from typing import Any

from domain.receipts.errors import InvalidModelOutputError

_FENCE = re.compile(r"```[ \t]*[A-Za-z0-9_+.-]*[ \t]*\r?\n(.*?)```", re.DOTALL)
# Bounds the work on adversarial text full of braces; real answers need a handful.
_MAX_CANDIDATES = 10_000


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


_NOT_JSON = object()


def _loads(text: str) -> Any:
    """Parsed value, or a sentinel when ``text`` is not JSON (NaN/Infinity included)."""
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _first_object(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    tried = 0
    while start != -1 and tried < _MAX_CANDIDATES:
        tried += 1
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def extract_json_object(text: str) -> dict[str, Any]:
    """The JSON object in ``text``; ``InvalidModelOutputError`` when there is none."""
    stripped = text.strip()
    if not stripped:
        raise InvalidModelOutputError("model output is empty")
    whole = _loads(stripped)
    if isinstance(whole, dict):
        return whole
    if whole is not _NOT_JSON:
        raise InvalidModelOutputError(
            f"model output is a JSON {_json_type(whole)}, not an object",
            details={"json_type": _json_type(whole)},
        )
    for body in _FENCE.findall(stripped):
        fenced = _loads(body.strip())
        if isinstance(fenced, dict):
            return fenced
    found = _first_object(stripped)
    if found is not None:
        return found
    raise InvalidModelOutputError(
        "model output contains no JSON object", details={"output_chars": len(text)}
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array"
