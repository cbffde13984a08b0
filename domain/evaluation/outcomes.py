"""What happened to one leaf of one document, in strict and in normalised comparison."""

from __future__ import annotations

from enum import StrEnum

import msgspec

MODES = ("strict", "normalised")


class Outcome(StrEnum):
    MATCHED = "matched"
    MISMATCH = "mismatch"
    PRED_MISSING = "pred_missing"  # GT has a value; the prediction lacks it (or the item failed)
    GT_MISSING = "gt_missing"  # the prediction has a value the GT lacks
    CANON_ERROR = "canon_error"  # both present, one side not canonicalisable (normalised only)
    BOTH_MISSING = "both_missing"  # neither has a value: recorded, never counted


COUNTED = (
    Outcome.MATCHED,
    Outcome.MISMATCH,
    Outcome.PRED_MISSING,
    Outcome.GT_MISSING,
    Outcome.CANON_ERROR,
)


class LeafComparison(msgspec.Struct, frozen=True):
    """One leaf occurrence; ``reason`` says why a canon_error happened ("pred: ambiguous
    separator"), None otherwise."""

    field_path: str
    outcome_strict: Outcome
    outcome_normalised: Outcome
    reason: str | None = None

    def outcome(self, mode: str) -> Outcome:
        return self.outcome_strict if mode == "strict" else self.outcome_normalised


class DocumentComparison(msgspec.Struct, frozen=True):
    """Every leaf occurrence of one document. ``failed``: there was no prediction (the item
    failed or is missing); such a document is never an exact match."""

    leaves: tuple[LeafComparison, ...]
    failed: bool = False

    def exact_match(self, mode: str) -> bool:
        """Every counted leaf matched (a document with only empty leaves matches)."""
        if self.failed:
            return False
        return all(
            leaf.outcome(mode) in (Outcome.MATCHED, Outcome.BOTH_MISSING) for leaf in self.leaves
        )
