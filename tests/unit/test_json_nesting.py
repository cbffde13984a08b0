"""Bounded nesting of client JSON (issue 12): the bound is exact, width costs nothing extra,
and a decoder's RecursionError never escapes."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInputError
from domain.json_nesting import MAX_JSON_DEPTH, decode_json, nesting_exceeds


def arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("make", [arrays, objects])
def test_the_bound_is_exact(make: object) -> None:
    assert decode_json(make(MAX_JSON_DEPTH)) is not None  # type: ignore[operator]
    with pytest.raises(InvalidInputError) as refused:
        decode_json(make(MAX_JSON_DEPTH + 1))  # type: ignore[operator]
    assert refused.value.code == "bad_request" and refused.value.details == {"max_depth": MAX_JSON_DEPTH}


@pytest.mark.parametrize("text", [arrays(1000), objects(1000), arrays(100_000)])
def test_nesting_past_the_decoder_s_recursion_limit_is_the_same_400(text: str) -> None:
    with pytest.raises(InvalidInputError):
        decode_json(text)


def test_wide_values_and_brackets_in_strings_do_not_count() -> None:
    assert not nesting_exceeds([[[]] * 10_000] * 10)
    assert decode_json('{"s": "' + "[" * 500 + '"}') == {"s": "[" * 500}
    assert not nesting_exceeds("[[[[") and not nesting_exceeds(None)


def test_text_that_is_not_json_is_msgspec_s_decode_error() -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_json(b"{nope")


@given(st.recursive(st.none() | st.integers() | st.text(max_size=3),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
                    max_leaves=30))
def test_agrees_with_a_recursive_definition(value: object) -> None:
    def depth(v: object) -> int:
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        return 0

    for limit in range(0, depth(value) + 2):
        assert nesting_exceeds(value, limit) == (depth(value) > limit)
