"""Evaluating a batch against its ground truth: the report stored as the eval artifact.

``pairs`` are ``(file basename, prediction or None if the item failed, GT record or None
if the GT has no record for that file)``:

* no GT record → listed in ``unmatched_predictions``, excluded from every metric;
* no prediction → a failed document: every GT value is pred_missing and the document
  is not an exact match. Files named in ``missing_files`` (GT records with no batch
  item at all) are scored the same way and also listed in ``missing_items``;
  ``counts.failed_items`` counts both kinds.

``default_currency`` reads amounts when the schema has no ``currency`` field (or the
document gives none): with IDR, CORD-style "39.000" is 39000 rather than ambiguous.

Every metric exists twice, ``strict`` and ``normalised`` (ADR 0080).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import msgspec

from domain.evaluation.compare import compare_document
from domain.evaluation.fields import schema_leaves
from domain.evaluation.metrics import ModeReport, mode_report, ratio
from domain.evaluation.text_canon import check_str_mode


class DocumentRow(msgspec.Struct, frozen=True):
    file: str
    exact_match_strict: bool
    exact_match_normalised: bool
    failed: bool


class Counts(msgspec.Struct, frozen=True):
    documents: int
    failed_items: int
    missing_items: int
    unmatched_predictions: int


class EvalReport(msgspec.Struct, frozen=True):
    str_mode: str
    strict: ModeReport
    normalised: ModeReport
    documents: list[DocumentRow]
    counts: Counts
    unmatched_predictions: list[str]
    missing_items: list[str]

    def summary(self) -> dict[str, Any]:
        """The few numbers a run listing shows (``eval_summary``).

        ``field_accuracy_normalised`` is matched / total over all normalised field rows.
        """
        rows = self.normalised.fields
        return {
            "documents": self.counts.documents,
            "exact_match_strict": self.strict.exact_match.rate,
            "exact_match_normalised": self.normalised.exact_match.rate,
            "f1_strict": self.strict.micro.f1,
            "f1_normalised": self.normalised.micro.f1,
            "field_accuracy_normalised": ratio(
                sum(r.matched for r in rows), sum(r.total for r in rows)
            ),
        }


def evaluate(
    pairs: Sequence[tuple[str, dict[str, Any] | None, dict[str, Any] | None]],
    schema: dict[str, Any],
    *,
    str_mode: str = "strip",
    missing_files: Collection[str] = (),
    default_currency: str | None = None,
) -> EvalReport:
    check_str_mode(str_mode)
    missing = set(missing_files)
    comparisons, rows, unmatched, missing_items = [], [], [], []
    for file, pred, gt in pairs:
        if gt is None:
            unmatched.append(file)
            continue
        if file in missing:
            missing_items.append(file)
            pred = None
        comparison = compare_document(
            pred, gt, schema, str_mode=str_mode, default_currency=default_currency
        )
        comparisons.append(comparison)
        rows.append(
            DocumentRow(
                file=file,
                exact_match_strict=comparison.exact_match("strict"),
                exact_match_normalised=comparison.exact_match("normalised"),
                failed=comparison.failed,
            )
        )
    paths = [leaf.path for leaf in schema_leaves(schema)]
    return EvalReport(
        str_mode=str_mode,
        strict=mode_report(comparisons, "strict", paths),
        normalised=mode_report(comparisons, "normalised", paths),
        documents=rows,
        counts=Counts(
            documents=len(comparisons),
            failed_items=sum(c.failed for c in comparisons),
            missing_items=len(missing_items),
            unmatched_predictions=len(unmatched),
        ),
        unmatched_predictions=unmatched,
        missing_items=missing_items,
    )
