from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInputError
from domain.evaluation.report import Counts, evaluate
from tests.unit.evaluation import strategies as docs
from tests.unit.evaluation.schemas import task_schema

FIELDS = task_schema("receipt_fields_v1")
EMPTY = dict.fromkeys(("total", "subtotal", "tax", "service", "discount", "cash", "card", "change"))


def record(**values: str) -> dict:
    return EMPTY | values


def test_files_without_gt_are_listed_and_excluded() -> None:
    report = evaluate(
        [("a.jpg", record(total="5"), record(total="5")), ("stray.jpg", record(total="9"), None)],
        FIELDS,
    )
    assert report.unmatched_predictions == ["stray.jpg"]
    assert report.counts.documents == 1 and report.counts.unmatched_predictions == 1
    assert report.strict.micro.fp == 0 and report.normalised.exact_match.rate == 1.0


def test_failed_and_missing_items_are_misses_never_predictions() -> None:
    gt = record(total="5", tax="1")
    report = evaluate(
        [("ok.jpg", gt, gt), ("failed.jpg", None, gt), ("absent.jpg", None, gt)],
        FIELDS,
        missing_files={"absent.jpg"},
    )
    assert report.missing_items == ["absent.jpg"]
    assert report.counts == Counts(documents=3, failed_items=2, missing_items=1, unmatched_predictions=0)
    assert [d.failed for d in report.documents] == [False, True, True]
    micro = report.normalised.micro
    assert (micro.tp, micro.fp, micro.fn) == (2, 0, 4)
    assert micro.precision == 1.0 and micro.recall == 2 / 6
    assert report.normalised.exact_match.matched_documents == 1


def test_a_missing_file_ignores_any_prediction_passed_for_it() -> None:
    gt = record(total="5")
    report = evaluate([("absent.jpg", gt, gt)], FIELDS, missing_files=["absent.jpg"])
    assert report.documents[0].failed and report.strict.micro.tp == 0


def test_no_documents_gives_undefined_rates_not_errors() -> None:
    report = evaluate([], FIELDS)
    assert report.summary() == {
        "documents": 0,
        "exact_match_strict": None,
        "exact_match_normalised": None,
        "f1_strict": None,
        "f1_normalised": None,
        "field_accuracy_normalised": None,
    }
    assert [r.path for r in report.strict.fields] == list(EMPTY)


def test_unknown_str_mode_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        evaluate([], FIELDS, str_mode="loose")


def test_report_is_json_friendly() -> None:
    report = evaluate([("a.jpg", record(total="1.234,56"), record(total="1,234.56"))], FIELDS)
    data = msgspec.json.decode(msgspec.json.encode(report))
    assert data == msgspec.to_builtins(report)
    assert set(data) == {
        "str_mode", "strict", "normalised", "documents", "counts", "unmatched_predictions", "missing_items",
    }
    assert data["strict"]["fields"][0] == {
        "path": "total", "matched": 0, "mismatch": 1, "pred_missing": 0, "gt_missing": 0,
        "canon_error": 0, "total": 1, "accuracy": 0.0,
    }
    assert data["documents"] == [
        {"file": "a.jpg", "exact_match_strict": False, "exact_match_normalised": True, "failed": False}
    ]


@given(st.lists(st.tuples(docs.receipt_fields | st.none(), docs.receipt_fields), max_size=5))
def test_micro_scores_are_consistent_with_the_rows(pairs: list) -> None:
    report = evaluate([(f"{i}", pred, gt) for i, (pred, gt) in enumerate(pairs)], FIELDS)
    for mode in (report.strict, report.normalised):
        rows = mode.fields
        assert all(r.total == r.matched + r.mismatch + r.pred_missing + r.gt_missing + r.canon_error for r in rows)
        micro = mode.micro
        assert micro.tp == sum(r.matched for r in rows)
        assert micro.fp == sum(r.mismatch + r.gt_missing + r.canon_error for r in rows)
        assert micro.fn == sum(r.mismatch + r.pred_missing + r.canon_error for r in rows)
        if micro.precision and micro.recall:
            assert micro.f1 == pytest.approx(2 * micro.precision * micro.recall / (micro.precision + micro.recall))
    assert report.strict.micro.tp <= report.normalised.micro.tp
    assert report.strict.exact_match.matched_documents <= report.normalised.exact_match.matched_documents
