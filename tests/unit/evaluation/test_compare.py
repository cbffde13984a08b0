from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domain.evaluation.compare import compare_document
from domain.evaluation.leaf_compare import is_present
from domain.evaluation.outcomes import LeafComparison, Outcome
from domain.evaluation.report import evaluate
from tests.unit.evaluation import strategies as docs
from tests.unit.evaluation.schemas import task_schema

RECEIPT = task_schema("receipt_v1")
FIELDS = task_schema("receipt_fields_v1")
MENU = task_schema("items_light_v1")
COUNTS = ("matched", "mismatch", "pred_missing", "gt_missing", "canon_error")


def rows(report: Any, mode: str) -> dict[str, tuple[int, ...]]:
    return {r.path: tuple(getattr(r, c) for c in COUNTS) for r in getattr(report, mode).fields}


def outcomes(comparison: Any, mode: str) -> list[tuple[str, Outcome]]:
    return [(leaf.field_path, leaf.outcome(mode)) for leaf in comparison.leaves]


@given(
    st.sampled_from([(RECEIPT, docs.receipts), (FIELDS, docs.receipt_fields), (MENU, docs.menus)])
    .flatmap(lambda pair: st.tuples(st.just(pair[0]), st.lists(pair[1], min_size=1, max_size=3))),
    st.sampled_from(["exact", "strip", "strip_collapse"]),
)
def test_identical_inputs_score_one_everywhere(case: tuple[dict, list[dict]], str_mode: str) -> None:
    schema, documents = case
    report = evaluate([(f"{i}.jpg", d, copy.deepcopy(d)) for i, d in enumerate(documents)], schema, str_mode=str_mode)
    for mode in (report.strict, report.normalised):
        assert mode.exact_match.rate == 1.0
        assert all(r.accuracy == 1.0 for r in mode.fields if r.total)
        assert all(r.accuracy is None for r in mode.fields if not r.total)
        assert mode.micro.fp == mode.micro.fn == 0
        assert mode.micro.f1 in (1.0, None)


@given(docs.receipts, st.data())
def test_one_changed_leaf_changes_exactly_one_row_by_one_count(gt: dict, data: st.DataObject) -> None:
    pred = copy.deepcopy(gt)
    container, key, path = data.draw(st.sampled_from(docs.receipt_leaves(pred)))
    value = container[key]
    if is_present(value):
        container[key] = data.draw(st.sampled_from([None, docs.changed(value, path)]))
        expected = Outcome.PRED_MISSING if container[key] is None else Outcome.MISMATCH
    else:
        container[key] = docs.filled(path)
        expected = Outcome.GT_MISSING
    before = evaluate([("a.jpg", copy.deepcopy(gt), gt)], RECEIPT)
    after = evaluate([("a.jpg", pred, gt)], RECEIPT)
    for mode in ("strict", "normalised"):
        old, new = rows(before, mode), rows(after, mode)
        moved = {p: tuple(n - o for n, o in zip(new[p], old[p], strict=True)) for p in new if new[p] != old[p]}
        delta = [0] * len(COUNTS)
        delta[COUNTS.index(expected.value)] += 1
        if expected is not Outcome.GT_MISSING:
            delta[COUNTS.index("matched")] -= 1
        assert moved == {path: tuple(delta)}


@given(docs.receipts, st.sampled_from(["items", "tax_lines"]))
def test_missing_and_extra_items_are_penalised(gt: dict, array: str) -> None:
    if not gt[array]:
        keys = ("quantity", "unit_price", "total") if array == "items" else ("rate", "amount")
        gt[array] = [{"name": "x"} | dict.fromkeys(keys, 1)]
    dropped = gt[array][-1]
    present = {key for key, value in dropped.items() if is_present(value)}

    shorter = copy.deepcopy(gt)
    shorter[array].pop()
    fewer = rows(evaluate([("a", shorter, gt)], RECEIPT), "normalised")
    more = rows(evaluate([("a", gt, shorter)], RECEIPT), "normalised")
    for key in dropped:
        path = f"{array}[].{key}"
        assert fewer[path][COUNTS.index("pred_missing")] == (key in present)
        assert more[path][COUNTS.index("gt_missing")] == (key in present)
        assert fewer[path][COUNTS.index("gt_missing")] == more[path][COUNTS.index("pred_missing")] == 0


@given(
    st.sampled_from([(RECEIPT, docs.receipts), (FIELDS, docs.receipt_fields), (MENU, docs.menus)])
    .flatmap(lambda pair: st.tuples(st.just(pair[0]), pair[1], pair[1])),
    st.sampled_from(["exact", "strip", "strip_collapse"]),
)
def test_a_strict_match_is_always_a_normalised_match(case: tuple, str_mode: str) -> None:
    schema, gt, pred = case
    for leaf in compare_document(pred, gt, schema, str_mode=str_mode).leaves:
        if leaf.outcome_strict not in (Outcome.MATCHED, Outcome.MISMATCH):
            assert leaf.outcome_normalised is leaf.outcome_strict  # presence is mode-independent
        if leaf.outcome_strict is Outcome.MATCHED:
            assert leaf.outcome_normalised is Outcome.MATCHED
        if leaf.outcome_normalised is Outcome.CANON_ERROR:
            assert leaf.outcome_strict is Outcome.MISMATCH and leaf.reason


def test_a_failed_item_makes_every_gt_value_pred_missing() -> None:
    gt = {"file": "a.jpg", "total": "10.00", "subtotal": None, "tax": "1.00",
          "service": None, "discount": None, "cash": None, "card": None, "change": None}
    comparison = compare_document(None, gt, FIELDS, str_mode="strip")
    assert comparison.failed and not comparison.exact_match("normalised")
    counted = [o for o in outcomes(comparison, "normalised") if o[1] is not Outcome.BOTH_MISSING]
    assert counted == [("total", Outcome.PRED_MISSING), ("tax", Outcome.PRED_MISSING)]


def test_the_gt_file_key_is_not_a_field_but_unknown_gt_keys_are() -> None:
    gt = {"file": "a.jpg", "total": "5", "note": "Thank you"}
    comparison = compare_document({"total": "5"}, gt, FIELDS, str_mode="strip")
    paths = [leaf.field_path for leaf in comparison.leaves]
    assert "file" not in paths
    assert LeafComparison("note", Outcome.PRED_MISSING, Outcome.PRED_MISSING) in comparison.leaves
    extra = compare_document({"total": "5", "note": "THANK  you"}, gt, FIELDS, str_mode="strip")
    assert LeafComparison("note", Outcome.MISMATCH, Outcome.MATCHED) in extra.leaves


def test_a_lone_sub_item_equals_a_list_of_one() -> None:
    item = {"nm": "Kopi", "cnt": "1", "unitprice": None, "price": "Rp 20.000", "discountprice": None, "num": None}
    gt = {"menu": [item | {"sub": {"nm": "ice", "cnt": "1"}}]}
    pred = {"menu": [item | {"sub": [{"nm": "Ice", "cnt": "1"}]}]}
    comparison = compare_document(pred, gt, MENU, str_mode="strip")
    assert ("menu[].sub[].nm", Outcome.MATCHED) in outcomes(comparison, "normalised")
    assert ("menu[].sub[].nm", Outcome.MISMATCH) in outcomes(comparison, "strict")


def test_a_value_of_the_wrong_shape_is_a_leaf_at_its_own_path() -> None:
    gt = {"merchant": {"name": "Toko", "address": None, "phone": None, "tax_id": None}}
    comparison = compare_document({"merchant": "Toko"}, gt, RECEIPT, str_mode="strip")
    found = outcomes(comparison, "normalised")
    assert ("merchant.name", Outcome.PRED_MISSING) in found
    assert ("merchant", Outcome.GT_MISSING) in found


def test_amounts_are_read_in_the_gt_currency_then_the_default() -> None:
    schema = {
        "type": "object",
        "properties": {"currency": {"type": "string"}, "total": {"type": "string"}},
    }
    gt = {"currency": "IDR", "total": "75.000"}
    assert compare_document({"total": "75000"}, gt, schema, str_mode="strip").leaves[1] == (
        LeafComparison("total", Outcome.MISMATCH, Outcome.MATCHED)
    )
    no_currency = compare_document({"total": "75000"}, {"total": "75.000"}, schema, str_mode="strip")
    assert no_currency.leaves[1] == LeafComparison(
        "total", Outcome.MISMATCH, Outcome.CANON_ERROR, "gt: ambiguous separator"
    )
    item = {"nm": None, "cnt": None, "unitprice": None, "discountprice": None, "num": None, "sub": None}
    menu = compare_document(
        {"menu": [item | {"price": "75,000"}]}, {"menu": [item | {"price": "75.000"}]}, MENU,
        str_mode="strip", default_currency="IDR",
    )
    assert ("menu[].price", Outcome.MATCHED) in outcomes(menu, "normalised")


def test_dates_numbers_and_text_are_normalised_by_kind() -> None:
    gt = {"date": "2026-11-21", "merchant": {"name": "Toko  Maju"}, "items": [{"quantity": 2}]}
    pred = {"date": "21.11.2026", "merchant": {"name": "TOKO MAJU"}, "items": [{"quantity": "2.0"}]}
    found = dict(outcomes(compare_document(pred, gt, RECEIPT, str_mode="strip"), "normalised"))
    assert found["date"] is found["merchant.name"] is found["items[].quantity"] is Outcome.MATCHED


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["total", "menu", "sub", "nm", "items", "merchant", "x"]), inner, max_size=4),
    max_leaves=12,
)


@given(
    st.sampled_from([RECEIPT, FIELDS, MENU, task_schema("invoice_v1"), {}]),
    st.dictionaries(st.sampled_from(["total", "menu", "items", "merchant", "currency", "file", "y"]), json_values),
    json_values,
)
def test_any_json_is_compared_without_raising(schema: dict, gt: dict, pred: Any) -> None:
    comparison = compare_document(pred if isinstance(pred, dict) else None, gt, schema, str_mode="strip_collapse")
    assert all(isinstance(leaf.outcome_normalised, Outcome) for leaf in comparison.leaves)
