"""Reading a 0–1 score from a model's answer section (SPEC §9.2).

The first number in the text is the score. A comma decimal is accepted
("0,7"). A number followed by ``%`` or lying in (1, 100] is a percentage
("85%", "85" → 0.85; note "1.5" is then 1.5 % → 0.015). Anything else is
clamped to [0, 1] ("150" → 1.0, "-0.2" → 0.0) and rounded to 4 decimals.
No number → None. Exponents are not read: models write plain decimals, and
"1e5" reads as 1 → 1.0.
"""

from __future__ import annotations

import math
import re

_NUMBER = re.compile(r"(?<![0-9])(-?)([0-9]+(?:[.,][0-9]+)?)[ \t]*(%?)")


def parse_score(raw: str | None) -> float | None:
    """A score in [0, 1] with at most 4 decimals, or None when ``raw`` holds no number."""
    if not raw:
        return None
    found = _NUMBER.search(raw)
    if found is None:
        return None
    sign, digits, percent = found.groups()
    value = float(digits.replace(",", ".", 1))
    if not math.isfinite(value):  # a few thousand digits overflow to inf
        return 1.0 if not sign else 0.0
    if sign:
        return 0.0
    if percent or 1.0 < value <= 100.0:
        value /= 100.0
    return round(min(max(value, 0.0), 1.0), 4)
