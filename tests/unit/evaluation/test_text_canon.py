from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInputError
from domain.evaluation.canon import Canon, canon_text, fold_text


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("exact", "  Kopi \t Susu "), ("strip", "Kopi \t Susu"), ("strip_collapse", "Kopi Susu")],
)
def test_str_modes(mode: str, expected: str) -> None:
    assert canon_text("  Kopi \t Susu ", mode) == Canon(value=expected)


def test_non_strings_are_compared_by_their_json_text() -> None:
    assert canon_text(12.5, "exact").value == "12.5"
    assert canon_text(True, "strip").value == "true"
    assert canon_text({"b": 1, "a": "ü"}, "strip").value == '{"a":"ü","b":1}'


@pytest.mark.parametrize("mode", ["exact", "strip", "strip_collapse"])
def test_blank_is_empty_in_every_mode(mode: str) -> None:
    assert canon_text("   ", mode).empty
    assert canon_text(None, mode).empty


def test_unknown_str_mode_is_an_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        canon_text("x", "fuzzy")


def test_fold_text_folds_case_width_and_whitespace() -> None:
    assert fold_text("  ＫＯＰＩ\u00a0 Susu\n") == Canon(value="kopi susu")
    assert fold_text("Straße") == fold_text("STRASSE")
    assert fold_text("ЁЛКА") == fold_text("ёлка")


words = st.text(alphabet=st.characters(whitelist_categories=("Lu", "Ll"), max_codepoint=0x4FF)
                .filter(lambda c: c not in "ıİſ"), min_size=1, max_size=8)


@given(st.lists(words, min_size=1, max_size=4), st.sampled_from([" ", "  ", "\t", "\u00a0"]))
def test_fold_text_ignores_case_and_spacing(parts: list[str], gap: str) -> None:
    tidy = " ".join(parts)
    messy = gap + gap.join(p.upper() for p in parts) + gap
    assert fold_text(messy) == fold_text(tidy)


@given(st.text())
def test_fold_text_is_idempotent(raw: str) -> None:
    folded = fold_text(raw)
    assert folded.value is None or fold_text(folded.value) == folded


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
        max_leaves=6,
    ),
    st.sampled_from(["exact", "strip", "strip_collapse"]),
)
def test_never_raises_on_json_like_input(raw: object, mode: str) -> None:
    for canon in (canon_text(raw, mode), fold_text(raw)):
        assert canon.value is None or canon.error is None
