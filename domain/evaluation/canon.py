"""Canonicalisation of one value for comparison; every function returns a ``Canon``.

``Canon(value, error)``: value None and error None means empty/absent; ``error`` is the
reason a value could not be canonicalised. None of these functions raises on any input
(``canon_text`` raises only for an unknown ``str_mode``). The rules are documented in
the modules behind this facade and in ADR 0081.
"""

from __future__ import annotations

from domain.evaluation.amount_canon import canon_amount
from domain.evaluation.canon_value import EMPTY, Canon
from domain.evaluation.date_canon import canon_date
from domain.evaluation.number_canon import canon_number
from domain.evaluation.text_canon import STR_MODES, canon_text, fold_text

__all__ = [
    "EMPTY",
    "STR_MODES",
    "Canon",
    "canon_amount",
    "canon_date",
    "canon_number",
    "canon_text",
    "fold_text",
]
