"""Text as compared strictly (``str_mode``) and as compared after folding.

Non-strings are compared by their JSON text (``12.5``, ``true``, ``{"a": 1}`` with
sorted keys), so a number and the same number printed as a string are equal text.
A value whose text is blank is empty in every mode — presence never depends on the
mode, so strict and normalised scores count the same missing values (ADR 0080).
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from domain.errors import InvalidInputError
from domain.evaluation.canon_value import EMPTY, Canon, fail, ok

STR_MODES = ("exact", "strip", "strip_collapse")
NOT_TEXT = "not representable as text"


def json_text(raw: Any) -> str:
    """The JSON text of a value; strings are returned as they are."""
    if isinstance(raw, str):
        return raw
    return json.dumps(raw, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def check_str_mode(str_mode: str) -> str:
    if str_mode not in STR_MODES:
        raise InvalidInputError(
            f"str_mode must be one of {', '.join(STR_MODES)}",
            details={"str_mode": str_mode, "allowed": list(STR_MODES)},
        )
    return str_mode


def canon_text(raw: Any, str_mode: str) -> Canon:
    """exact: as is; strip: trimmed; strip_collapse: trimmed, inner whitespace runs to one space."""
    check_str_mode(str_mode)
    if raw is None:
        return EMPTY
    try:
        text = json_text(raw)
    except (TypeError, ValueError):
        return fail(NOT_TEXT)
    if not text.strip():
        return EMPTY
    if str_mode == "strip":
        return ok(text.strip())
    if str_mode == "strip_collapse":
        return ok(" ".join(text.split()))
    return ok(text)


def fold_text(raw: Any) -> Canon:
    """The normalised comparison: NFKC, casefolded, whitespace collapsed and trimmed."""
    if raw is None:
        return EMPTY
    try:
        text = json_text(raw)
    except (TypeError, ValueError):
        return fail(NOT_TEXT)
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    folded = " ".join(folded.split())
    return ok(folded) if folded else EMPTY
