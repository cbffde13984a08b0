"""Comparing one leaf value pair, strictly and after canonicalisation.

Presence is decided once, the same way in both modes: None, a blank string and an
empty list or object are absent. Only when both sides are present do the modes
differ: strict compares text after ``str_mode``; normalised compares canonical
forms by field kind, and a side that cannot be canonicalised is a canon_error —
unless both sides fold to the same text: the same printed text means the same value
under any reading, so "39.000" against "39.000" matches even with no currency known.
A strict match is therefore always a normalised match.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.evaluation.canon import (
    Canon,
    canon_amount,
    canon_date,
    canon_number,
    canon_text,
    fold_text,
)
from domain.evaluation.fields import FieldKind
from domain.evaluation.outcomes import LeafComparison, Outcome


def is_present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | dict | tuple):
        return bool(value)
    return True


def normaliser(kind: FieldKind, currency: str | None) -> Callable[[Any], Canon]:
    if kind is FieldKind.AMOUNT:
        return lambda raw: canon_amount(raw, currency=currency)
    if kind is FieldKind.DATE:
        return canon_date
    if kind is FieldKind.NUMBER:
        return canon_number
    if kind is FieldKind.BOOLEAN:
        return lambda raw: canon_text(raw, "strip")
    return fold_text


def compare_leaf(
    path: str, kind: FieldKind, gt: Any, pred: Any, *, str_mode: str, currency: str | None
) -> LeafComparison:
    gt_present, pred_present = is_present(gt), is_present(pred)
    if not (gt_present and pred_present):
        if gt_present:
            outcome = Outcome.PRED_MISSING
        elif pred_present:
            outcome = Outcome.GT_MISSING
        else:
            outcome = Outcome.BOTH_MISSING
        return LeafComparison(path, outcome, outcome)
    strict_gt, strict_pred = canon_text(gt, str_mode), canon_text(pred, str_mode)
    strict_equal = strict_gt.value is not None and strict_gt.value == strict_pred.value
    strict = Outcome.MATCHED if strict_equal else Outcome.MISMATCH
    if fold_text(gt).value == fold_text(pred).value:
        return LeafComparison(path, strict, Outcome.MATCHED)
    canon = normaliser(kind, currency)
    norm_gt, norm_pred = canon(gt), canon(pred)
    errors = [f"{side}: {c.error}" for side, c in (("gt", norm_gt), ("pred", norm_pred)) if c.error]
    if errors:
        return LeafComparison(path, strict, Outcome.CANON_ERROR, "; ".join(errors))
    normalised = Outcome.MATCHED if norm_gt.value == norm_pred.value else Outcome.MISMATCH
    return LeafComparison(path, strict, normalised)
