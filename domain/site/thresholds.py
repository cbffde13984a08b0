"""Thresholds of production-class resolution and catalog matching (SPEC §9.3/§9.4).

All are settings: the service's configuration builds these values; the defaults are
the SPEC defaults. Scores are on the ``(cosine + 1) / 2`` scale of ``similarity``.
"""

from __future__ import annotations

import msgspec


class ProdclassThresholds(msgspec.Struct, frozen=True, kw_only=True):
    guess_min: float = 0.3  # an embedding guess exists from this score up
    override_min: float = 0.55  # a guess may override the model's class from this score up ...
    override_margin: float = 0.1  # ... and when it beats the model's class by this much
    name_match_ratio: float = 0.55  # difflib ratio for a class named in words
    # Not in SPEC: the best fuzzy name must beat the runner-up class by this much, or the
    # text names no class (class names share long prefixes such as "предприятия по
    # производству"; ADR 0065). 0 restores the bare ratio rule.
    name_match_lead: float = 0.03

    def __post_init__(self) -> None:
        for name in ("guess_min", "override_min", "override_margin", "name_match_ratio",
                     "name_match_lead"):
            _check_unit(name, getattr(self, name))


class MatchThresholds(msgspec.Struct, frozen=True, kw_only=True):
    match_min: float = 0.45  # a catalog item is matched from this score up

    def __post_init__(self) -> None:
        _check_unit("match_min", self.match_min)


def _check_unit(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be within [0, 1], got {value}")
