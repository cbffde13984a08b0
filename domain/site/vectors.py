"""Embedding vectors: L2 normalisation, pgvector text literals, catalog ``vec`` shapes.

A pgvector literal is ``[v1,v2,…]``. Written with 7 decimals; read strictly as a
JSON array of finite numbers (msgspec, so 1,000 × 3,072-dim literals parse in a
fraction of a second). ``numpy.fromstring`` was rejected: it stops silently at
the first garbage character. A catalog item's ``vec`` (SPEC §9.1) is an array
of numbers, a literal, ``{values, literal}`` (a non-empty literal wins) or null;
an empty vector reads as no vector. Anything else is a CatalogShapeError naming
the path of the bad element, for a 422.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

_FLOATS = list[float]


class CatalogShapeError(ValueError):
    """A catalog ``vec`` of a shape SPEC §9.1 does not allow; ``path`` locates it."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def normalize(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``values`` scaled to unit L2 norm as a 1-D float array (float32 stays float32).

    A zero vector stays zero. Raises ValueError for a non-1-D or non-finite input.
    """
    array = np.asarray(values)
    if array.dtype != np.float32:
        array = array.astype(np.float64)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D vector, got {array.ndim} dimensions")
    if not np.isfinite(array).all():
        raise ValueError("vector holds NaN or infinity")
    # Scaled by the largest magnitude first: the norm of subnormal values (1e-320) loses all
    # precision, and that of huge ones overflows; in [-1, 1] it is exact enough.
    largest = float(np.max(np.abs(array))) if array.size else 0.0
    if largest == 0.0:
        return array.copy()
    scaled = array / array.dtype.type(largest)
    return scaled / scaled.dtype.type(float(np.linalg.norm(scaled)))


def to_literal(values: Sequence[float] | np.ndarray) -> str:
    """The pgvector text of ``values`` with 7 decimals, e.g. ``[0.5000000,-0.1000000]``."""
    floats = np.asarray(values, dtype=np.float64).ravel().tolist()
    if not all(map(math.isfinite, floats)):
        raise ValueError("vector holds NaN or infinity")
    return ("[" + ",".join(["%.7f"] * len(floats)) + "]") % tuple(floats)


def parse_literal(text: str) -> list[float]:
    """The numbers of a pgvector literal; ValueError (with the reason) if it is not one."""
    stripped = text.strip()
    if not (stripped.startswith("[") and stripped.endswith("]")):
        raise ValueError("a vector literal is enclosed in [ ]")
    try:
        numbers = msgspec.json.decode(stripped, type=_FLOATS)
    except msgspec.DecodeError as exc:  # ValidationError included: out of range, not a number
        raise ValueError(f"not a vector literal: {exc}") from None
    return numbers


def vector_payload(values: Sequence[float] | np.ndarray | None) -> dict[str, Any]:
    """SPEC §9.1 VectorPayload ``{values, literal, dim}``; ``dim`` 0 when there is none."""
    if values is None:
        return {"values": None, "literal": None, "dim": 0}
    floats = np.asarray(values, dtype=np.float64).ravel().tolist()
    return {"values": floats, "literal": to_literal(floats), "dim": len(floats)}


def parse_catalog_vec(vec: object, path: str) -> list[float] | None:
    """The vector of a catalog item's ``vec``, None when it has none; CatalogShapeError otherwise."""
    if vec is None:
        return None
    if isinstance(vec, list):
        return _numbers(vec, path)
    if isinstance(vec, str):
        return _literal(vec, path)
    if isinstance(vec, dict):
        if "values" not in vec and "literal" not in vec:
            raise CatalogShapeError(path, "an object vec needs 'values' or 'literal'")
        literal = vec.get("literal")
        if literal is not None and not isinstance(literal, str):
            raise CatalogShapeError(f"{path}.literal", "must be a string or null")
        if literal and literal.strip():
            return _literal(literal, f"{path}.literal")
        values = vec.get("values")
        if values is None:
            return None
        if not isinstance(values, list):
            raise CatalogShapeError(f"{path}.values", "must be an array of numbers or null")
        return _numbers(values, f"{path}.values")
    raise CatalogShapeError(
        path, "must be an array of numbers, a vector literal, an object {values, literal} or null"
    )


def _numbers(values: list[Any], path: str) -> list[float] | None:
    try:
        numbers = msgspec.convert(values, _FLOATS)
    except msgspec.ValidationError as exc:
        raise CatalogShapeError(path, f"must be an array of finite numbers ({exc})") from None
    if not all(map(math.isfinite, numbers)):
        raise CatalogShapeError(path, "must be an array of finite numbers (NaN or infinity)")
    return numbers or None


def _literal(text: str, path: str) -> list[float] | None:
    try:
        return parse_literal(text) or None
    except ValueError as exc:
        raise CatalogShapeError(path, str(exc)) from None
