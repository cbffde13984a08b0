from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from domain.site.vectors import (
    CatalogShapeError,
    normalize,
    parse_catalog_vec,
    parse_literal,
    to_literal,
    vector_payload,
)

_FINITE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_literal_has_seven_decimals() -> None:
    assert to_literal([0.5, -0.1]) == "[0.5000000,-0.1000000]"
    assert to_literal(np.array([1, 0], dtype=np.float32)) == "[1.0000000,0.0000000]"


@given(st.lists(_FINITE, max_size=64))
def test_literal_round_trip(values: list[float]) -> None:
    parsed = parse_literal(to_literal(values))
    assert len(parsed) == len(values)
    assert all(abs(a - b) <= 5e-8 * max(1.0, abs(b)) for a, b in zip(parsed, values, strict=True))


@given(st.lists(st.floats(min_value=-1, max_value=1), max_size=64))
def test_unit_range_round_trip_within_5e_8(values: list[float]) -> None:
    assert np.allclose(parse_literal(to_literal(values)), values, rtol=0, atol=5e-8)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("[0.5,-0.1]", [0.5, -0.1]), (" [1, 2e-3] ", [1.0, 0.002]), ("[]", []), ("[-0]", [0.0])],
)
def test_parse_literal(text: str, expected: list[float]) -> None:
    assert parse_literal(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "0.5,0.1", "[0.5,0.1", "0.5]", "[0.5,,0.1]", "[0.5,]", "[,0.5]", "[0.5 0.1]", "[NaN]",
     "[Infinity]", "[1e999]", "[true]", '["1"]', "[[1]]", "[0.5,abc]", "[.5]", "[0x10]", "[1] [2]"],
)
def test_parse_literal_is_strict(text: str) -> None:
    with pytest.raises(ValueError):
        parse_literal(text)


def test_normalize() -> None:
    assert normalize([3, 4]).tolist() == pytest.approx([0.6, 0.8])
    assert normalize(np.zeros(3)).tolist() == [0.0, 0.0, 0.0]
    assert normalize(np.array([3, 4], dtype=np.float32)).dtype == np.float32
    assert normalize([1, 2]).dtype == np.float64
    for bad in ([[1, 2]], [math.nan], [math.inf, 1.0]):
        with pytest.raises(ValueError):
            normalize(bad)


@given(st.lists(_FINITE, min_size=1, max_size=32))
@example([5e-324])  # subnormal values: their plain norm loses all precision
@example([1e-320, 1e-320])
def test_normalized_vectors_have_unit_or_zero_norm(values: list[float]) -> None:
    norm = float(np.linalg.norm(normalize(values)))
    assert norm == 0.0 or abs(norm - 1.0) < 1e-9


def test_vector_payload() -> None:
    assert vector_payload(None) == {"values": None, "literal": None, "dim": 0}
    assert vector_payload(np.array([0.5, -0.1])) == {
        "values": [0.5, -0.1], "literal": "[0.5000000,-0.1000000]", "dim": 2}


@pytest.mark.parametrize(
    ("vec", "expected"),
    [
        (None, None),
        ([0.5, -1, 2], [0.5, -1.0, 2.0]),
        ([], None),
        ("[0.5,-0.1]", [0.5, -0.1]),
        ("[]", None),
        ({"values": [1, 2]}, [1.0, 2.0]),
        ({"values": [1, 2], "literal": "[3,4]"}, [3.0, 4.0]),  # a non-empty literal wins
        ({"values": [1, 2], "literal": ""}, [1.0, 2.0]),
        ({"values": [1, 2], "literal": "  "}, [1.0, 2.0]),
        ({"values": [1, 2], "literal": None, "dim": 2}, [1.0, 2.0]),
        ({"values": None, "literal": None}, None),
        ({"literal": "[1]"}, [1.0]),
    ],
)
def test_catalog_vec_shapes(vec: object, expected: list[float] | None) -> None:
    assert parse_catalog_vec(vec, "goods_catalog[0].vec") == expected


@pytest.mark.parametrize(
    ("vec", "path"),
    [
        ([[0.1, 0.2]], "v"),
        ([0.1, "0.2"], "v"),
        ([True, 0.2], "v"),
        ([0.1, None], "v"),
        ([math.nan], "v"),
        ([math.inf], "v"),
        ("0.1,0.2", "v"),
        ("abc", "v"),
        ("", "v"),
        ("[0.1,0.2", "v"),
        ("[NaN]", "v"),
        (True, "v"),
        (False, "v"),
        (0.5, "v"),
        (3, "v"),
        ({}, "v"),
        ({"vector": [1]}, "v"),
        ({"values": "[1,2]"}, "v.values"),
        ({"values": [[1]]}, "v.values"),
        ({"values": {"a": 1}}, "v.values"),
        ({"literal": [1, 2]}, "v.literal"),
        ({"literal": "1,2"}, "v.literal"),
        ({"values": [1], "literal": 5}, "v.literal"),
        (("tuple",), "v"),
    ],
)
def test_bad_catalog_vec_shapes(vec: object, path: str) -> None:
    with pytest.raises(CatalogShapeError) as caught:
        parse_catalog_vec(vec, "v")
    assert caught.value.path == path
    assert isinstance(caught.value, ValueError) and str(caught.value).startswith(f"{path}: ")


def test_parse_literal_on_a_thousand_3072_dim_literals() -> None:
    rng = np.random.default_rng(7)
    literals = [to_literal(rng.standard_normal(3072)) for _ in range(1000)]
    started = time.perf_counter()
    parsed = [parse_catalog_vec(literal, "v") for literal in literals]
    elapsed = time.perf_counter() - started
    assert all(vec is not None and len(vec) == 3072 for vec in parsed)
    print(f"\nparse_catalog_vec: 1,000 x 3,072-dim literals ({sum(map(len, literals)) / 1e6:.1f} MB) in {elapsed:.3f} s")
