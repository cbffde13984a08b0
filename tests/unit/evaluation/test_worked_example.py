"""A worked example: 10 receipts of receipt_fields_v1, scored by hand, then by ``evaluate``.

Notation per counted leaf, strict | normalised: M matched, X mismatch, PM pred_missing,
GM gt_missing, CE canon_error; fields not listed are null on both sides (both_missing,
not counted). str_mode is "strip". The schema has no currency field, so only a printed
mark ("Rp", "€", "₽", "$") tells the currency.

r01  identical: total, subtotal, tax, cash, change ("Rp 39.000" ...)        5 × M|M
r02  formatting only: total "1.234,56" vs "1,234.56"                        X|M
                      subtotal "1.100,00" vs "1100.00"                       X|M
                      tax "134,56" vs "134.56"                               X|M
                      card "1.234,56" vs "1.234,56"                          M|M
r03  a real error: total "25.50" vs "25.80"                                  X|X
                   subtotal, tax, card equal                                 3 × M|M
r04  the item failed (prediction None): total, subtotal, tax in GT           3 × PM|PM
r05  total "75.000" vs "75000": "75.000" with no currency is ambiguous        X|CE
     subtotal "70.000" vs "70.000": same text, same value under any reading  M|M
     service "5.000" vs "5.000"                                              M|M
r06  tax "Rp 10.000" vs null                                                 PM|PM
     total, subtotal, service equal                                          3 × M|M
r07  cash null vs "$20.00"                                                   GM|GM
     total, card equal                                                       2 × M|M
r08  discount "-5,00" vs "(5,00)"                                            X|M
     total "5,00" vs " 5,00 " (strip removes the spaces)                     M|M
     subtotal equal                                                          M|M
r09  total "1 500 ₽" (NBSP) vs "1500 руб."                                   X|M
     cash "2 000 ₽" vs "2000"                                                X|M
     change "500 ₽" equal                                                    M|M
r10  total "Rp 60.000" vs "Rp 65.000"                                        X|X
     subtotal "Rp 55.000" vs "55000" (Rp: no minor unit)                     X|M
     tax, card equal                                                         2 × M|M
r11  a prediction with no GT record: unmatched, excluded from every metric.

Per field (M, X, PM, GM, CE / total → accuracy):

field     | strict                         | normalised
total     | r01 r06 r07 r08 M; r02 r03 r05  | r01 r02 r06 r07 r08 r09 M; r03 r10 X;
          |   r09 r10 X; r04 PM             |   r04 PM; r05 CE
          | 4,5,1,0,0 / 10 → 0.4            | 6,2,1,0,1 / 10 → 0.6
subtotal  | r01 r03 r05 r06 r08 M; r02 r10  | 7 M (r02, r10 now M); r04 PM
          |   X; r04 PM                     |
          | 5,2,1,0,0 / 8 → 5/8             | 7,0,1,0,0 / 8 → 7/8
tax       | r01 r03 r10 M; r02 X; r04 r06 PM| r01 r02 r03 r10 M; r04 r06 PM
          | 3,1,2,0,0 / 6 → 1/2             | 4,0,2,0,0 / 6 → 2/3
service   | r05 r06 M  2,0,0,0,0 / 2 → 1    | same → 1
discount  | r08 X      0,1,0,0,0 / 1 → 0    | r08 M 1,0,0,0,0 / 1 → 1
cash      | r01 M; r09 X; r07 GM            | r01 r09 M; r07 GM
          | 1,1,0,1,0 / 3 → 1/3             | 2,0,0,1,0 / 3 → 2/3
card      | r02 r03 r07 r10 M 4/4 → 1       | same → 1
change    | r01 r09 M 2/2 → 1               | same → 1

Column sums (check: per document 5+4+4+3+3+4+3+3+3+4 = 36 counted leaves):
strict      M 21, X 10, PM 4, GM 1, CE 0 = 36
normalised  M 28, X  2, PM 4, GM 1, CE 1 = 36

Micro, tp = M, fp = X + GM + CE, fn = X + PM + CE:
strict      tp 21, fp 11, fn 14: P = 21/32, R = 21/35 = 0.6, F1 = 42/67
normalised  tp 28, fp  4, fn  7: P = 28/32 = 0.875, R = 28/35 = 0.8, F1 = 56/67

Exact match: strict r01 only → 1/10; normalised r01 r02 r08 r09 → 4/10 (r04 failed).
field_accuracy_normalised = 28/36 = 7/9.
"""

from __future__ import annotations

from domain.evaluation.compare import compare_document
from domain.evaluation.metrics import ExactMatch, FieldRow, Micro
from domain.evaluation.outcomes import Outcome
from domain.evaluation.report import Counts, EvalReport, evaluate
from tests.unit.evaluation.schemas import task_schema

FIELDS = ("total", "subtotal", "tax", "service", "discount", "cash", "card", "change")


def receipt(**values: str | None) -> dict[str, str | None]:
    return dict.fromkeys(FIELDS) | values


GT = [
    {"file": "r01.jpg", **receipt(total="Rp 39.000", subtotal="Rp 35.000", tax="Rp 3.500",
                                  cash="Rp 50.000", change="Rp 11.000")},
    {"file": "r02.jpg", **receipt(total="1.234,56", subtotal="1.100,00", tax="134,56", card="1.234,56")},
    {"file": "r03.jpg", **receipt(total="25.50", subtotal="23.00", tax="2.50", card="25.50")},
    {"file": "r04.jpg", **receipt(total="€ 12,00", subtotal="€ 10,00", tax="€ 2,00")},
    {"file": "r05.jpg", **receipt(total="75.000", subtotal="70.000", service="5.000")},
    {"file": "r06.jpg", **receipt(total="Rp 120.000", subtotal="Rp 100.000", tax="Rp 10.000",
                                  service="Rp 10.000")},
    {"file": "r07.jpg", **receipt(total="$15.99", card="$15.99")},
    {"file": "r08.jpg", **receipt(total="5,00", subtotal="10,00", discount="-5,00")},
    {"file": "r09.jpg", **receipt(total="1\u00a0500 ₽", cash="2 000 ₽", change="500 ₽")},
    {"file": "r10.jpg", **receipt(total="Rp 60.000", subtotal="Rp 55.000", tax="Rp 5.000", card="Rp 60.000")},
]

PREDICTIONS: dict[str, dict[str, str | None] | None] = {
    "r01.jpg": receipt(total="Rp 39.000", subtotal="Rp 35.000", tax="Rp 3.500", cash="Rp 50.000",
                       change="Rp 11.000"),
    "r02.jpg": receipt(total="1,234.56", subtotal="1100.00", tax="134.56", card="1.234,56"),
    "r03.jpg": receipt(total="25.80", subtotal="23.00", tax="2.50", card="25.50"),
    "r04.jpg": None,
    "r05.jpg": receipt(total="75000", subtotal="70.000", service="5.000"),
    "r06.jpg": receipt(total="Rp 120.000", subtotal="Rp 100.000", service="Rp 10.000"),
    "r07.jpg": receipt(total="$15.99", cash="$20.00", card="$15.99"),
    "r08.jpg": receipt(total=" 5,00 ", subtotal="10,00", discount="(5,00)"),
    "r09.jpg": receipt(total="1500 руб.", cash="2000", change="500 ₽"),
    "r10.jpg": receipt(total="Rp 65.000", subtotal="55000", tax="Rp 5.000", card="Rp 60.000"),
    "r11.jpg": receipt(total="Rp 1.000"),
}


def run() -> EvalReport:
    by_file = {record["file"]: record for record in GT}
    pairs = [(file, pred, by_file.get(file)) for file, pred in PREDICTIONS.items()]
    return evaluate(pairs, task_schema("receipt_fields_v1"), str_mode="strip")


def row(path: str, m: int, x: int, pm: int, gm: int, ce: int) -> FieldRow:
    total = m + x + pm + gm + ce
    return FieldRow(path, m, x, pm, gm, ce, total, m / total if total else None)


def test_strict_field_rows() -> None:
    assert run().strict.fields == [
        row("total", 4, 5, 1, 0, 0),  # 0.4
        row("subtotal", 5, 2, 1, 0, 0),  # 5/8
        row("tax", 3, 1, 2, 0, 0),  # 1/2
        row("service", 2, 0, 0, 0, 0),  # 1
        row("discount", 0, 1, 0, 0, 0),  # 0
        row("cash", 1, 1, 0, 1, 0),  # 1/3
        row("card", 4, 0, 0, 0, 0),  # 1
        row("change", 2, 0, 0, 0, 0),  # 1
    ]


def test_normalised_field_rows() -> None:
    assert run().normalised.fields == [
        row("total", 6, 2, 1, 0, 1),  # 0.6
        row("subtotal", 7, 0, 1, 0, 0),  # 7/8
        row("tax", 4, 0, 2, 0, 0),  # 2/3
        row("service", 2, 0, 0, 0, 0),  # 1
        row("discount", 1, 0, 0, 0, 0),  # 1
        row("cash", 2, 0, 0, 1, 0),  # 2/3
        row("card", 4, 0, 0, 0, 0),  # 1
        row("change", 2, 0, 0, 0, 0),  # 1
    ]


def test_accuracies_are_the_hand_fractions() -> None:
    strict = [r.accuracy for r in run().strict.fields]
    normalised = [r.accuracy for r in run().normalised.fields]
    assert strict == [0.4, 5 / 8, 0.5, 1.0, 0.0, 1 / 3, 1.0, 1.0]
    assert normalised == [0.6, 7 / 8, 4 / 6, 1.0, 1.0, 2 / 3, 1.0, 1.0]


def test_micro_scores() -> None:
    report = run()
    assert report.strict.micro == Micro(tp=21, fp=11, fn=14, precision=21 / 32, recall=0.6, f1=42 / 67)
    assert report.normalised.micro == Micro(tp=28, fp=4, fn=7, precision=0.875, recall=0.8, f1=56 / 67)


def test_exact_match_and_documents() -> None:
    report = run()
    assert report.strict.exact_match == ExactMatch(matched_documents=1, documents=10, rate=0.1)
    assert report.normalised.exact_match == ExactMatch(matched_documents=4, documents=10, rate=0.4)
    normalised_matches = [d.file for d in report.documents if d.exact_match_normalised]
    assert normalised_matches == ["r01.jpg", "r02.jpg", "r08.jpg", "r09.jpg"]
    assert [d.file for d in report.documents if d.failed] == ["r04.jpg"]
    assert report.counts == Counts(documents=10, failed_items=1, missing_items=0, unmatched_predictions=1)
    assert report.unmatched_predictions == ["r11.jpg"]


def test_summary() -> None:
    assert run().summary() == {
        "documents": 10,
        "exact_match_strict": 0.1,
        "exact_match_normalised": 0.4,
        "f1_strict": 42 / 67,
        "f1_normalised": 56 / 67,
        "field_accuracy_normalised": 28 / 36,
    }


def test_the_canon_error_says_why() -> None:
    leaf = compare_document(
        PREDICTIONS["r05.jpg"], GT[4], task_schema("receipt_fields_v1"), str_mode="strip"
    ).leaves[0]
    assert (leaf.field_path, leaf.outcome_normalised, leaf.reason) == (
        "total", Outcome.CANON_ERROR, "gt: ambiguous separator"
    )
