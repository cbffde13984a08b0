"""Similarity scores between embedding vectors (SPEC §9.3/§9.4): ``(cosine + 1) / 2``,
rounded to 4 decimals, so a score lies in [0, 1] and 0.5 means "orthogonal".

A vector without direction (all zeros, or holding NaN/inf) scores **0.0** against
anything: it carries no evidence, and 0.5 would clear the default thresholds
(guess 0.3, match 0.45) and invent a match out of nothing (ADR 0066).
"""

from __future__ import annotations

import numpy as np

SCORE_DECIMALS = 4


def score_round(x: float) -> float:
    return round(float(x), SCORE_DECIMALS)


def unit_rows(matrix: np.ndarray, dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Rows scaled to length 1, and a mask of the rows that have a direction.
    Rows without one (zero, NaN, inf) come back as zeros with ``valid = False``."""
    m = np.asarray(matrix, dtype=dtype)
    if m.ndim != 2:
        raise ValueError(f"expected a 2-D matrix, got shape {m.shape}")
    finite = np.isfinite(m).all(axis=1)
    m = np.where(finite[:, None], m, 0).astype(dtype, copy=False)
    # Scale by the largest component first so huge or tiny components neither overflow
    # nor underflow the norm.
    peak = np.abs(m).max(axis=1) if m.shape[1] else np.zeros(m.shape[0], dtype=dtype)
    valid = finite & (peak > 0)
    m = m / np.where(valid, peak, 1).astype(dtype, copy=False)[:, None]
    norms = np.linalg.norm(m, axis=1)
    return m / np.where(valid, norms, 1).astype(dtype, copy=False)[:, None], valid


def scores_from_unit(products: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Scores from dot products of unit vectors; ``valid`` broadcasts over ``products``
    and marks the pairs where both sides have a direction."""
    scores = (np.clip(products, -1.0, 1.0) + 1.0) / 2.0
    return np.round(np.where(valid, scores, 0.0), SCORE_DECIMALS)


def cosine_scores(query: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Score of ``query`` (d,) against every row of ``matrix`` (n, d) → (n,), float64."""
    q = np.asarray(query, dtype=np.float64)
    if q.ndim != 1:
        raise ValueError(f"query must be 1-D, got shape {q.shape}")
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] != q.shape[0]:
        raise ValueError(f"matrix shape {m.shape} does not fit a query of dimension {q.shape[0]}")
    q_unit, q_valid = unit_rows(q[None, :])
    rows, valid = unit_rows(m)
    # Row-wise sum of products rather than a BLAS product: each row's score is computed
    # the same way wherever the row sits, so permuting the rows permutes the scores exactly.
    products = (rows * q_unit[0]).sum(axis=1)
    return scores_from_unit(products, valid & q_valid[0])


def best_index(scores: np.ndarray, keys: np.ndarray | list[int] | None = None) -> int:
    """Index of the highest score. Ties are broken by the smallest ``key`` (e.g. the
    class or catalog id), then the lowest position — with distinct keys, permuting the
    scores and keys together never changes which key wins. Without keys the position
    is the key, so callers hold their rows in ascending id order."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError("best_index needs a non-empty 1-D array of scores")
    k = np.arange(s.size) if keys is None else np.asarray(keys)
    if k.shape != s.shape:
        raise ValueError("keys must align with scores")
    # NaN never wins: treat it as the lowest possible score.
    s = np.where(np.isnan(s), -np.inf, s)
    order = np.lexsort((np.arange(s.size), k, -s))
    return int(order[0])
