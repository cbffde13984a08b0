"""Catalog matching, SPEC §9.4: exact names first, one matrix product, thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.site.matching import Catalog, CatalogItem, MatchedItem, exact_matches, match_items
from domain.site.thresholds import MatchThresholds

E1, E2, E3 = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]


def catalog(*items: CatalogItem, dim: int = 3) -> Catalog:
    return Catalog.build(list(items), dim=dim)


# --- building the catalog -----------------------------------------------------------------

def test_build_uses_right_sized_vectors_and_embeds_the_other_names() -> None:
    c = Catalog.build([
        CatalogItem(id=9, name="Пресс", vec=E1),
        CatalogItem(id=3, name="Станок", vec=None),
        CatalogItem(id=5, name="Печь", vec=[1.0, 2.0]),  # another dimension
        CatalogItem(id=7, name="Кран", vec=[0.0, 0.0, 0.0]),  # no direction
        CatalogItem(id=1, name="Котёл", vec=E2),
    ], dim=3)
    assert [i.id for i in c.items] == [1, 3, 5, 7, 9]  # ascending id, whatever the input order
    assert c.names_to_embed() == ["Станок", "Печь", "Кран"]
    assert (c.vectors_used, c.names_embedded, c.dimension_mismatches) == (2, 3, 1)
    assert not c.complete and len(c) == 5
    done = c.with_name_vectors(np.array([E3, [1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]))
    assert done.complete and done.names_to_embed() == []
    assert (done.vectors_used, done.names_embedded, done.dimension_mismatches) == (2, 3, 1)
    [hit] = match_items(["печь промышленная"], np.array([[1.0, 1.0, 0.0]]), done)
    assert (hit.match_id, hit.score, hit.match_method) == (5, 1.0, "embedding")


def test_name_vectors_must_fit_the_names() -> None:
    c = catalog(CatalogItem(1, "Станок"), CatalogItem(2, "Пресс"))
    with pytest.raises(ValueError):
        c.with_name_vectors(np.array([E1]))
    with pytest.raises(ValueError):
        c.with_name_vectors(np.array([[1.0, 0.0], [0.0, 1.0]]))


def test_a_complete_catalog_needs_no_name_vectors() -> None:
    c = catalog(CatalogItem(1, "Станок", E1))
    assert c.names_to_embed() == [] and c.with_name_vectors(np.zeros((0, 3))) is c


def test_matching_on_a_catalog_still_waiting_for_names_is_a_bug() -> None:
    with pytest.raises(ValueError):
        match_items(["x"], np.array([E1]), catalog(CatalogItem(1, "Станок")))


def test_item_vectors_must_have_the_catalog_dimension() -> None:
    with pytest.raises(ValueError):
        match_items(["x"], np.array([[1.0, 0.0]]), catalog(CatalogItem(1, "Станок", E1)))


# --- exact names --------------------------------------------------------------------------

def test_exact_hits_are_honoured_even_when_a_vector_match_scores_higher() -> None:
    c = catalog(CatalogItem(5, "Сталь листовая", E1), CatalogItem(9, "Прокат", E2))
    # The item's own vector points exactly at id 9; its text names id 5.
    [hit] = match_items(["СТАЛЬ  листовая."], np.array([E2]), c)
    assert hit == MatchedItem(text="СТАЛЬ  листовая.", match_id=5, score=1.0, match_method="exact_catalog_name",
                              vector=E2)


def test_exact_hits_do_not_depend_on_the_other_items() -> None:
    c = catalog(CatalogItem(1, "Ёмкость", E1), CatalogItem(2, "Насос", E2))
    out = match_items(["емкость", "насосы", "Насос"], np.array([E3, E2, E3]), c)
    assert [(m.match_id, m.match_method) for m in out] == [(1, "exact_catalog_name"), (2, "embedding"),
                                                           (2, "exact_catalog_name")]
    assert exact_matches(["емкость", "насосы", "Насос"], c) == {0: c.items[0], 2: c.items[1]}


def test_a_duplicate_catalog_name_resolves_to_its_lowest_id() -> None:
    c = catalog(CatalogItem(8, "Насос", E1), CatalogItem(4, "насос", E2))
    assert exact_matches(["НАСОС"], c)[0].id == 4


def test_exact_names_need_no_vectors_and_no_catalog_means_no_hits() -> None:
    assert exact_matches(["Насос"], catalog(CatalogItem(3, "Насос")))[0].id == 3
    assert exact_matches(["Насос"], None) == {}
    assert exact_matches(["", "—"], catalog(CatalogItem(3, "—", E1))) == {}


# --- embedding matches and the threshold --------------------------------------------------

def at_cosine(c: float) -> list[float]:
    return [c, float(np.sqrt(1 - c * c)), 0.0]


def test_score_at_the_threshold_matches_and_just_under_does_not() -> None:
    c = catalog(CatalogItem(1, "Станок", E1))
    limits = MatchThresholds(match_min=0.75)  # cosine 0.5
    hit, miss = match_items(["a", "b"], np.array([at_cosine(0.5), at_cosine(0.4998)]), c, limits)
    assert (hit.match_id, hit.score, hit.match_method) == (1, 0.75, "embedding")
    assert (miss.match_id, miss.score, miss.match_method) == (None, None, "embedding_below_threshold")


def test_default_threshold_is_0_45() -> None:
    c = catalog(CatalogItem(1, "Станок", E1))
    hit, miss = match_items(["a", "b"], np.array([at_cosine(-0.1), at_cosine(-0.1002)]), c)
    assert (hit.match_id, hit.score) == (1, 0.45)
    assert (miss.match_id, miss.score) == (None, None)


def test_top_1_over_the_whole_catalog() -> None:
    c = catalog(CatalogItem(1, "a", E1), CatalogItem(2, "b", E2), CatalogItem(3, "c", E3))
    out = match_items(["x", "y"], np.array([[0.1, 0.2, 0.9], [0.0, 0.9, 0.1]]), c)
    assert [m.match_id for m in out] == [3, 2]


def test_a_tie_goes_to_the_lowest_id_in_any_order() -> None:
    items = [CatalogItem(7, "a", E1), CatalogItem(2, "b", E1), CatalogItem(5, "c", E1)]
    for order in ([0, 1, 2], [2, 1, 0], [1, 0, 2]):
        [m] = match_items(["x"], np.array([E1]), Catalog.build([items[i] for i in order], dim=3))
        assert m.match_id == 2


def test_an_item_vector_without_direction_matches_nothing() -> None:
    [m] = match_items(["x"], np.array([[0.0, 0.0, 0.0]]), catalog(CatalogItem(1, "a", E1)))
    assert (m.match_id, m.score, m.match_method, m.vector) == (None, None, "embedding_below_threshold", [0.0, 0.0, 0.0])


@pytest.mark.parametrize("empty", [None, Catalog.build([], dim=3)])
def test_without_a_catalog_items_keep_their_vectors_and_null_matches(empty: Catalog | None) -> None:
    out = match_items(["Насос", "Станок"], np.array([[0.25, -0.5, 1.0], E2]), empty)
    assert out == [
        MatchedItem(text="Насос", match_id=None, score=None, match_method="no_catalog", vector=[0.25, -0.5, 1.0]),
        MatchedItem(text="Станок", match_id=None, score=None, match_method="no_catalog", vector=E2),
    ]


def test_no_items_no_matches() -> None:
    assert match_items([], np.zeros((0, 3)), catalog(CatalogItem(1, "a", E1))) == []


def test_the_returned_vector_is_the_items_own_embedding() -> None:
    own = np.array([[0.123456789, -2.5, 3.0]])
    [m] = match_items(["x"], own, catalog(CatalogItem(1, "a", E1)))
    assert m.vector == own[0].tolist()


# --- permutation stability ----------------------------------------------------------------

POOL = [E1, E2, E3, [1.0, 1.0, 0.0], [0.5, -1.0, 2.0]]


@settings(max_examples=60)
@given(
    st.lists(st.sampled_from(range(len(POOL))), min_size=1, max_size=10),
    st.lists(st.lists(st.floats(-5, 5), min_size=3, max_size=3), min_size=1, max_size=4),
    st.randoms(use_true_random=False),
)
def test_matches_are_stable_under_permutation_of_the_catalog(picks, queries, rnd) -> None:
    items = [CatalogItem(id=10 + 3 * n, name=f"item {n}", vec=POOL[p]) for n, p in enumerate(picks)]
    vectors = np.array(queries)
    names = [f"q{i}" for i in range(len(queries))]
    base = match_items(names, vectors, Catalog.build(items, dim=3))
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert match_items(names, vectors, Catalog.build(shuffled, dim=3)) == base


# Speed is measured in bench/catalog_matching.py, never asserted in tests.


def test_a_full_size_catalog_matches_every_item() -> None:
    rng = np.random.default_rng(7)
    items = [CatalogItem(id=i, name=f"item {i}", vec=rng.standard_normal(3072).tolist()) for i in range(1000)]
    c = Catalog.build(items, dim=3072)
    vectors = np.stack([np.asarray(items[i * 7].vec, dtype=np.float32) for i in range(30)])
    out = match_items([f"query {i}" for i in range(30)], vectors, c)
    assert [m.match_id for m in out] == [i * 7 for i in range(30)]
    assert all(m.score == 1.0 and m.match_method == "embedding" for m in out)
