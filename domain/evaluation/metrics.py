"""Scores over many document comparisons, for one mode (strict or normalised).

Per field path: counts of each counted outcome; ``total`` is their sum (both_missing is
not counted) and ``accuracy = matched / total`` (None when total is 0), so canon errors
stay in the denominator.

Micro scores over (path, value) pairs, summed over all fields and documents:

* tp = matched — a GT value predicted correctly;
* fp = mismatch + gt_missing + canon_error — a predicted value that is wrong, absent
  from the GT, or not verifiable;
* fn = mismatch + pred_missing + canon_error — a GT value not predicted correctly.

A mismatch is both a wrong prediction and a missed GT value, as in token-level F1.
precision = tp / (tp + fp), recall = tp / (tp + fn), f1 = 2tp / (2tp + fp + fn) — the
harmonic mean of the two, and 0 rather than undefined when tp = 0; each is None when
its denominator is 0. Failed items contribute only pred_missing: misses, never
predictions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from domain.evaluation.outcomes import COUNTED, DocumentComparison, Outcome


class FieldRow(msgspec.Struct, frozen=True):
    path: str
    matched: int
    mismatch: int
    pred_missing: int
    gt_missing: int
    canon_error: int
    total: int
    accuracy: float | None


class ExactMatch(msgspec.Struct, frozen=True):
    matched_documents: int
    documents: int
    rate: float | None


class Micro(msgspec.Struct, frozen=True):
    tp: int
    fp: int
    fn: int
    precision: float | None
    recall: float | None
    f1: float | None


class ModeReport(msgspec.Struct, frozen=True):
    fields: list[FieldRow]
    exact_match: ExactMatch
    micro: Micro


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def field_rows(
    comparisons: Sequence[DocumentComparison], mode: str, paths: Iterable[str]
) -> list[FieldRow]:
    """One row per path: the given paths first (schema order), then any other path seen."""
    counts: dict[str, dict[Outcome, int]] = {path: dict.fromkeys(COUNTED, 0) for path in paths}
    for comparison in comparisons:
        for leaf in comparison.leaves:
            row = counts.setdefault(leaf.field_path, dict.fromkeys(COUNTED, 0))
            outcome = leaf.outcome(mode)
            if outcome in row:
                row[outcome] += 1
    rows: list[FieldRow] = []
    for path, row in counts.items():
        total = sum(row.values())
        rows.append(
            FieldRow(
                path=path,
                matched=row[Outcome.MATCHED],
                mismatch=row[Outcome.MISMATCH],
                pred_missing=row[Outcome.PRED_MISSING],
                gt_missing=row[Outcome.GT_MISSING],
                canon_error=row[Outcome.CANON_ERROR],
                total=total,
                accuracy=ratio(row[Outcome.MATCHED], total),
            )
        )
    return rows


def micro(rows: Iterable[FieldRow]) -> Micro:
    rows = list(rows)
    tp = sum(r.matched for r in rows)
    fp = sum(r.mismatch + r.gt_missing + r.canon_error for r in rows)
    fn = sum(r.mismatch + r.pred_missing + r.canon_error for r in rows)
    return Micro(
        tp=tp,
        fp=fp,
        fn=fn,
        precision=ratio(tp, tp + fp),
        recall=ratio(tp, tp + fn),
        f1=ratio(2 * tp, 2 * tp + fp + fn),
    )


def exact_match(comparisons: Sequence[DocumentComparison], mode: str) -> ExactMatch:
    matched = sum(comparison.exact_match(mode) for comparison in comparisons)
    return ExactMatch(
        matched_documents=matched,
        documents=len(comparisons),
        rate=ratio(matched, len(comparisons)),
    )


def mode_report(
    comparisons: Sequence[DocumentComparison], mode: str, paths: Iterable[str]
) -> ModeReport:
    rows = field_rows(comparisons, mode, paths)
    return ModeReport(fields=rows, exact_match=exact_match(comparisons, mode), micro=micro(rows))
