"""Production class resolution, SPEC §9.3: every source and score source, and the traps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ErrorKind
from domain.receipts.errors import InvalidModelOutputError
from domain.site.prodclass import class_by_id
from domain.site.prodclass_resolution import (
    ProdclassUnresolvedError,
    class_id_in,
    class_named_in,
    resolve_prodclass,
)
from domain.site.thresholds import ProdclassThresholds

DEFAULT = ProdclassThresholds()


def scores(base: float = 0.4, **by_id: float) -> np.ndarray:
    """Embedding scores of the 110 classes: ``base`` everywhere, ``c<id>=score`` overrides."""
    out = np.full(110, base)
    for key, value in by_id.items():
        out[int(key[1:]) - 1] = value
    return out


# --- model_reply --------------------------------------------------------------------------

@pytest.mark.parametrize("section", ["41", "[41]", "Класс 41 — Предприятия механообработки", "id: 41.", "№41"])
def test_model_reply_takes_the_class_id_token(section: str) -> None:
    r = resolve_prodclass(section, 0.9, scores(c41=0.5, c25=0.52), DEFAULT)
    assert (r.id, r.source, r.score, r.score_source) == (41, "model_reply", 0.9, "model_reply")
    assert r.title == class_by_id()[41].name
    assert (r.embed_guess_id, r.embed_guess_score) == (25, 0.52)


@pytest.mark.parametrize("section", ["0.85", "1.5", "0,85", ".5", "85%", "41,42", "A320", "12б"])
def test_digits_inside_decimals_and_longer_tokens_are_not_class_ids(section: str) -> None:
    assert class_id_in(section) is None


def test_the_0_85_trap_falls_back_to_the_guess_not_class_85() -> None:
    r = resolve_prodclass("0.85", 0.85, scores(c7=0.61), DEFAULT)
    assert (r.id, r.source, r.score, r.score_source) == (7, "text_embedding_fallback", 0.61, "text_embedding_fallback")


def test_an_id_outside_the_table_is_skipped_for_the_next_token() -> None:
    assert class_id_in("0 или 111 или 12") == 12
    assert class_id_in("score 0.9, class 64") == 64


def test_the_model_score_is_rounded() -> None:
    r = resolve_prodclass("41", 0.912345, None, DEFAULT)
    assert (r.score, r.score_source) == (0.9123, "model_reply")


# --- name_match ---------------------------------------------------------------------------

def test_name_match_on_an_exact_class_name_in_other_case_and_spelling() -> None:
    r = resolve_prodclass("«ЛИТЕЙНЫЕ предприятия черных металлов (чугун и сталь)»", 0.8, None, DEFAULT)
    assert (r.id, r.source, r.score_source) == (31, "name_match", "model_reply")


def test_name_match_on_a_class_name_inside_a_sentence() -> None:
    text = "Скорее всего это Мебельные производственные предприятия, судя по каталогу"
    assert class_named_in(text, DEFAULT.name_match_ratio, DEFAULT.name_match_lead) == 25


@pytest.mark.parametrize(("section", "expected"), [
    ("Мебельное производство", 25),
    ("Молочная промышленность, сыродельный завод", 64),
    ("Шахта подземной добычи угля", 18),
])
def test_name_match_on_a_paraphrase(section: str, expected: int) -> None:
    r = resolve_prodclass(section, None, None, DEFAULT)
    assert (r.id, r.source, r.score, r.score_source) == (expected, "name_match", 0.0, "not_available")


@pytest.mark.parametrize("section", ["нет", "Нет.", "да", "n/a", "N/A", "none", "нет данных", "не указано",
                                     "отсутствует", "", "   ", "—", "abc", "0.85", "41,42"])
def test_stop_words_and_short_words_never_name_a_class(section: str) -> None:
    assert class_named_in(section, 0.0, 0.0) is None


def test_net_falls_back_to_the_guess() -> None:
    r = resolve_prodclass("нет", None, scores(c93=0.58), DEFAULT)
    assert (r.id, r.source) == (93, "text_embedding_fallback")


def test_a_name_close_to_several_classes_names_none_of_them() -> None:
    # "предприятия по производству" is shared by many names: the best ratio barely leads.
    text = "Предприятия по производству шин"
    assert class_named_in(text, DEFAULT.name_match_ratio, DEFAULT.name_match_lead) is None
    assert class_named_in(text, DEFAULT.name_match_ratio, 0.0) is not None  # the bare SPEC rule


def test_the_name_match_ratio_is_a_setting() -> None:
    assert class_named_in("Мебельное производство", 0.9, 0.0) is None


# --- text_embedding_fallback --------------------------------------------------------------

def test_fallback_takes_the_guess_and_its_score() -> None:
    r = resolve_prodclass("не знаю", 0.7, scores(c50=0.66), DEFAULT)
    assert (r.id, r.source, r.score, r.score_source) == (50, "text_embedding_fallback", 0.66, "text_embedding_fallback")
    assert (r.embed_guess_id, r.embed_guess_score) == (50, 0.66)


def test_no_class_and_no_guess_is_invalid_model_output() -> None:
    with pytest.raises(ProdclassUnresolvedError) as info:
        resolve_prodclass("нет", 0.5, scores(0.2, c3=0.29), DEFAULT)
    err = info.value
    assert isinstance(err, InvalidModelOutputError)
    assert (err.code, err.kind, err.message) == ("invalid_model_output", ErrorKind.UPSTREAM, "no production class")
    assert err.details["reason"] == "no production class"


def test_no_class_and_no_embeddings_is_invalid_model_output() -> None:
    with pytest.raises(ProdclassUnresolvedError):
        resolve_prodclass(None, None, None, DEFAULT)


def test_the_guess_threshold_is_inclusive_and_a_setting() -> None:
    r = resolve_prodclass("", None, scores(0.1, c9=0.3), DEFAULT)
    assert (r.id, r.embed_guess_score) == (9, 0.3)
    with pytest.raises(ProdclassUnresolvedError):
        resolve_prodclass("", None, scores(0.1, c9=0.3), ProdclassThresholds(guess_min=0.31))


def test_a_guess_tie_goes_to_the_lowest_id() -> None:
    assert resolve_prodclass("", None, scores(c80=0.7, c12=0.7, c99=0.7), DEFAULT).id == 12


# --- text_embedding_override --------------------------------------------------------------

def test_a_clearly_better_guess_overrides_the_model_reply() -> None:
    r = resolve_prodclass("41", 0.95, scores(c41=0.5, c25=0.7), DEFAULT)
    assert (r.id, r.source, r.score, r.score_source) == (25, "text_embedding_override", 0.7, "text_embedding_override")


def test_a_clearly_better_guess_overrides_a_name_match() -> None:
    r = resolve_prodclass("Мебельное производство", 0.9, scores(c25=0.45, c61=0.8), DEFAULT)
    assert (r.id, r.source) == (61, "text_embedding_override")


def test_the_override_margin_is_inclusive() -> None:
    r = resolve_prodclass("41", 0.9, scores(c41=0.55, c25=0.65), DEFAULT)
    assert r.source == "text_embedding_override"
    r = resolve_prodclass("41", 0.9, scores(c41=0.55, c25=0.6499), DEFAULT)
    assert (r.id, r.source) == (41, "model_reply")


def test_no_override_under_the_override_minimum() -> None:
    r = resolve_prodclass("41", 0.9, scores(0.2, c41=0.3, c25=0.5499), DEFAULT)
    assert (r.id, r.source) == (41, "model_reply")
    r = resolve_prodclass("41", 0.9, scores(0.2, c41=0.3, c25=0.55), DEFAULT)
    assert (r.id, r.source) == (25, "text_embedding_override")


def test_no_override_when_the_guess_agrees() -> None:
    r = resolve_prodclass("25", None, scores(c25=0.9), DEFAULT)
    assert (r.id, r.source, r.score, r.score_source) == (25, "model_reply", 0.9, "text_embedding_verify")


def test_override_thresholds_are_settings() -> None:
    strict = ProdclassThresholds(override_min=0.9, override_margin=0.3)
    r = resolve_prodclass("41", 0.9, scores(c41=0.5, c25=0.7), strict)
    assert (r.id, r.source) == (41, "model_reply")


# --- score sources ------------------------------------------------------------------------

def test_text_embedding_verify_when_the_model_gave_no_score() -> None:
    r = resolve_prodclass("41", None, scores(c41=0.51234, c25=0.56), DEFAULT)
    assert (r.id, r.source, r.score, r.score_source) == (41, "model_reply", 0.5123, "text_embedding_verify")


def test_not_available_without_model_score_and_embeddings() -> None:
    r = resolve_prodclass("41", None, None, DEFAULT)
    assert (r.id, r.score, r.score_source, r.embed_guess_id, r.embed_guess_score) == (41, 0.0, "not_available", None, None)


def test_scores_must_align_with_the_class_table() -> None:
    with pytest.raises(ValueError):
        resolve_prodclass("41", None, np.ones(109), DEFAULT)


# --- properties ---------------------------------------------------------------------------

@given(st.integers(0, 999), st.integers(0, 9999), st.sampled_from([".", ","]))
def test_a_decimal_is_never_a_class_id(whole: int, frac: int, sep: str) -> None:
    assert class_id_in(f"{whole}{sep}{frac}") is None


@given(st.text(max_size=80), st.none() | st.floats(0, 1))
def test_any_text_resolves_when_a_guess_exists(section: str, model_score: float | None) -> None:
    r = resolve_prodclass(section, model_score, scores(c17=0.6), DEFAULT)
    assert r.id in class_by_id()
    assert 0.0 <= r.score <= 1.0
    assert r == resolve_prodclass(section, model_score, scores(c17=0.6), DEFAULT)
