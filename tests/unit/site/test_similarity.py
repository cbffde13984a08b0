"""Similarity scores ``(cosine + 1) / 2`` and the permutation-stable best match."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.site.similarity import best_index, cosine_scores, score_round

DIM = 4
component = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)
vector = st.lists(component, min_size=DIM, max_size=DIM).map(np.array)


def test_identical_opposite_and_orthogonal_vectors() -> None:
    q = np.array([1.0, 0.0])
    m = np.array([[2.0, 0.0], [-3.0, 0.0], [0.0, 5.0]])
    assert cosine_scores(q, m).tolist() == [1.0, 0.0, 0.5]


def test_scores_are_rounded_to_four_decimals() -> None:
    q = np.array([1.0, 0.0])
    m = np.array([[np.cos(1.0), np.sin(1.0)]])
    assert cosine_scores(q, m)[0] == round((np.cos(1.0) + 1) / 2, 4)


def test_a_vector_without_direction_scores_zero() -> None:
    q = np.array([1.0, 0.0])
    m = np.array([[0.0, 0.0], [np.nan, 1.0], [np.inf, 0.0], [1.0, 0.0]])
    assert cosine_scores(q, m).tolist() == [0.0, 0.0, 0.0, 1.0]
    assert cosine_scores(np.zeros(2), m).tolist() == [0.0, 0.0, 0.0, 0.0]


def test_huge_and_tiny_components_do_not_overflow() -> None:
    q = np.array([1e300, 1e300])
    m = np.array([[1e-300, 1e-300], [1e300, -1e300]])
    assert cosine_scores(q, m).tolist() == [1.0, 0.5]


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError):
        cosine_scores(np.ones(3), np.ones((2, 4)))
    with pytest.raises(ValueError):
        cosine_scores(np.ones((1, 3)), np.ones((2, 3)))


def test_score_round() -> None:
    assert score_round(0.123456) == 0.1235
    assert score_round(np.float32(0.5)) == 0.5
    assert isinstance(score_round(np.float64(0.1)), float)


@given(vector, vector)
def test_scores_are_symmetric(a: np.ndarray, b: np.ndarray) -> None:
    assert cosine_scores(a, b[None, :])[0] == cosine_scores(b, a[None, :])[0]


@given(vector, st.lists(vector, min_size=1, max_size=8))
def test_scores_lie_in_the_unit_interval(q: np.ndarray, rows: list[np.ndarray]) -> None:
    scores = cosine_scores(q, np.array(rows))
    assert scores.shape == (len(rows),)
    assert ((scores >= 0.0) & (scores <= 1.0)).all()


@given(vector, st.lists(vector, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_permuting_rows_permutes_scores_exactly(q, rows, rnd) -> None:
    order = list(range(len(rows)))
    rnd.shuffle(order)
    m = np.array(rows)
    assert cosine_scores(q, m[order]).tolist() == cosine_scores(q, m)[order].tolist()


def test_best_index_breaks_ties_by_the_smallest_key_then_position() -> None:
    assert best_index(np.array([0.2, 0.9, 0.9, 0.1])) == 1
    assert best_index(np.array([0.2, 0.9, 0.9]), keys=[1, 30, 20]) == 2
    assert best_index(np.array([np.nan, 0.1])) == 1
    with pytest.raises(ValueError):
        best_index(np.array([]))
    with pytest.raises(ValueError):
        best_index(np.array([0.1, 0.2]), keys=[1])


@given(
    st.lists(st.sampled_from([0.1, 0.5, 0.75, 0.9]), min_size=1, max_size=12),
    st.randoms(use_true_random=False),
)
def test_best_match_is_stable_under_permutation(scores: list[float], rnd) -> None:
    ids = list(range(100, 100 + len(scores)))
    rnd.shuffle(ids)
    chosen = ids[best_index(np.array(scores), keys=ids)]
    order = list(range(len(scores)))
    rnd.shuffle(order)
    permuted = best_index(np.array(scores)[order], keys=[ids[i] for i in order])
    assert [ids[i] for i in order][permuted] == chosen


@given(vector, st.lists(st.sampled_from([0, 1, 2]), min_size=1, max_size=10), st.randoms(use_true_random=False))
def test_best_catalog_row_is_stable_under_permutation(q, picks, rnd) -> None:
    pool = [np.array([1.0, 0.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0, 0.0]), np.array([1.0, 1.0, 0.0, 0.0])]
    rows = np.array([pool[p] for p in picks])  # duplicates force ties
    ids = np.arange(len(picks)) * 7 + 3
    chosen = ids[best_index(cosine_scores(q, rows), keys=ids)]
    order = list(range(len(picks)))
    rnd.shuffle(order)
    assert ids[order][best_index(cosine_scores(q, rows[order]), keys=ids[order])] == chosen
