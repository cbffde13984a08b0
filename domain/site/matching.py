"""Catalog matching (SPEC §9.4): goods and equipment items matched to the caller's catalog,
exact names first, then top-1 by embedding score over the whole catalog (ADR 0065).

How an item was matched, ``match_method`` (SPEC §9.1; the response's item ``source`` names
the answer list the item came from, which this module does not know):
``exact_catalog_name`` (normalised text equals a catalog name; score 1.0), ``embedding``
(best score ≥ ``match_min``), ``embedding_below_threshold`` (best score under it;
``match_id`` and ``score`` null), ``no_catalog`` (no catalog, or an empty one; null match).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec
import numpy as np

from domain.site.prodclass import normalize_name
from domain.site.similarity import score_round, scores_from_unit, unit_rows
from domain.site.thresholds import MatchThresholds


class CatalogItem(msgspec.Struct, frozen=True):
    id: int
    name: str
    vec: list[float] | None = None


MatchMethod = Literal["exact_catalog_name", "embedding", "embedding_below_threshold", "no_catalog"]
MATCH_METHODS: tuple[MatchMethod, ...] = ("exact_catalog_name", "embedding", "embedding_below_threshold",
                                          "no_catalog")


class MatchedItem(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    match_id: int | None
    score: float | None
    match_method: MatchMethod
    vector: list[float]


class Catalog:
    """A catalog ready for matching: items in ascending id order (so the first maximum is
    the lowest id, whatever order the caller sent), a float32 matrix of unit rows, and
    the items whose name must be embedded because their ``vec`` is missing, of another
    dimension, or has no direction (zero, NaN, inf)."""

    __slots__ = ("items", "dim", "_matrix", "_valid", "_pending", "_by_name",
                 "vectors_used", "names_embedded", "dimension_mismatches")

    def __init__(self, items: tuple[CatalogItem, ...], dim: int, matrix: np.ndarray,
                 valid: np.ndarray, pending: tuple[int, ...], counts: tuple[int, int, int]) -> None:
        self.items, self.dim = items, dim
        self._matrix, self._valid, self._pending = matrix, valid, pending
        self.vectors_used, self.names_embedded, self.dimension_mismatches = counts
        self._by_name: dict[str, CatalogItem] = {}
        for item in items:  # ascending id: a duplicate name keeps its lowest id
            self._by_name.setdefault(normalize_name(item.name), item)
        self._by_name.pop("", None)

    @classmethod
    def build(cls, items: Sequence[CatalogItem], dim: int) -> Catalog:
        if dim < 1:
            raise ValueError(f"embedding dimension must be positive, got {dim}")
        ordered = tuple(sorted(items, key=lambda i: i.id))
        matrix = np.zeros((len(ordered), dim), dtype=np.float32)
        mismatches = 0
        for row, item in enumerate(ordered):
            if item.vec is not None and len(item.vec) == dim:
                matrix[row] = np.fromiter(item.vec, dtype=np.float32, count=dim)
            else:
                mismatches += item.vec is not None
        matrix, valid = unit_rows(matrix, np.float32)
        # Rows left at zero, and right-sized vectors without direction, get their name embedded.
        pending = tuple(np.flatnonzero(~valid).tolist())
        counts = (len(ordered) - len(pending), len(pending), mismatches)
        return cls(ordered, dim, matrix, valid, pending, counts)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def complete(self) -> bool:
        """Every item has a vector (no name waits to be embedded)."""
        return not self._pending

    def names_to_embed(self) -> list[str]:
        """Names to embed, one per pending item; pass their vectors, in this order, to
        ``with_name_vectors``."""
        return [self.items[r].name for r in self._pending]

    def with_name_vectors(self, vectors: np.ndarray | Sequence[Sequence[float]]) -> Catalog:
        names = np.asarray(vectors, dtype=np.float32)
        if names.shape != (len(self._pending), self.dim):
            raise ValueError(f"expected name vectors of shape {(len(self._pending), self.dim)}, "
                             f"got {names.shape}")
        if not self._pending:
            return self
        matrix, valid = self._matrix.copy(), self._valid.copy()
        rows = list(self._pending)
        matrix[rows], valid[rows] = unit_rows(names, np.float32)
        counts = (self.vectors_used, self.names_embedded, self.dimension_mismatches)
        return Catalog(self.items, self.dim, matrix, valid, (), counts)

    def exact(self, text: str) -> CatalogItem | None:
        return self._by_name.get(normalize_name(text))

    def best(self, unit_items: np.ndarray, items_valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best catalog row and its score for each unit item vector: one (k×d)·(d×n) product."""
        if not self.complete:
            raise ValueError("catalog names are still waiting for their vectors")
        products = (unit_items @ self._matrix.T).astype(np.float64)
        scores = scores_from_unit(products, items_valid[:, None] & self._valid[None, :])
        rows = scores.argmax(axis=1)  # first maximum = lowest id among equal scores
        return rows, scores[np.arange(len(rows)), rows]


def exact_matches(items: Sequence[str], catalog: Catalog | None) -> dict[int, CatalogItem]:
    """Index in ``items`` → catalog item whose normalised name equals the item's text."""
    if catalog is None:
        return {}
    found = {i: catalog.exact(text) for i, text in enumerate(items)}
    return {i: hit for i, hit in found.items() if hit is not None}


def match_items(items: Sequence[str], item_vectors: np.ndarray, catalog: Catalog | None,
                thresholds: MatchThresholds | None = None) -> list[MatchedItem]:
    """``item_vectors`` (k, dim) holds each item's own embedding, aligned with ``items``."""
    limits = thresholds or MatchThresholds()
    if not items:
        return []
    own = np.asarray(item_vectors, dtype=np.float64).reshape(len(items), -1)
    vectors = [row.tolist() for row in own]
    if catalog is None or len(catalog) == 0:
        return [MatchedItem(text=t, match_id=None, score=None, match_method="no_catalog", vector=v)
                for t, v in zip(items, vectors, strict=True)]
    if own.shape[1] != catalog.dim:
        raise ValueError(f"item vectors have dimension {own.shape[1]}, catalog {catalog.dim}")
    out: dict[int, MatchedItem] = {
        i: MatchedItem(text=items[i], match_id=hit.id, score=1.0, match_method="exact_catalog_name",
                       vector=vectors[i])
        for i, hit in exact_matches(items, catalog).items()
    }
    rest = [i for i in range(len(items)) if i not in out]
    if rest:
        unit, valid = unit_rows(own[rest])
        rows, scores = catalog.best(unit.astype(np.float32), valid)
        for i, row, score in zip(rest, rows.tolist(), scores.tolist(), strict=True):
            hit = score >= limits.match_min - 1e-9
            out[i] = MatchedItem(
                text=items[i], match_id=catalog.items[row].id if hit else None,
                score=score_round(score) if hit else None,
                match_method="embedding" if hit else "embedding_below_threshold", vector=vectors[i])
    return [out[i] for i in range(len(items))]
