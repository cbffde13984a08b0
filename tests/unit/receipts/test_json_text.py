from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import DomainError, ErrorKind
from domain.receipts.errors import InvalidModelOutputError
from domain.receipts.json_text import extract_json_object


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"total": "12.50"}', {"total": "12.50"}),
        ('  \n{"a": [1, {"b": null}]}\n ', {"a": [1, {"b": None}]}),
        ('Here you go:\n```json\n{"a": 1}\n```\nThanks', {"a": 1}),
        ('```\n{"a": 2}\n```', {"a": 2}),
        ('```json\n[1, 2]\n```\n```json\n{"a": 3}\n```', {"a": 3}),
        ('Sure! {"a": "}{"} and then {"b": 2}', {"a": "}{"}),
        ('noise { not json } then {"a": {"b": "x"}} tail }', {"a": {"b": "x"}}),
        ('{"a": "say \\"{\\" here"} extra text', {"a": 'say "{" here'}),
        ('text {"a": 1', None),
    ],
)
def test_recovers_the_first_object(text: str, expected: dict | None) -> None:
    if expected is None:
        with pytest.raises(InvalidModelOutputError):
            extract_json_object(text)
    else:
        assert extract_json_object(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "I cannot read this receipt.", "[1, 2, 3]", '"text"', "42",
                                  "null", "true", '{"a": NaN}', '{"a": Infinity}', "{" * 5000])
def test_no_object_is_invalid_model_output(text: str) -> None:
    with pytest.raises(InvalidModelOutputError) as caught:
        extract_json_object(text)
    assert caught.value.kind is ErrorKind.UPSTREAM
    assert caught.value.code == "invalid_model_output"
    assert isinstance(caught.value, DomainError)


def test_top_level_array_is_rejected_even_if_it_holds_an_object() -> None:
    with pytest.raises(InvalidModelOutputError, match="JSON array, not an object"):
        extract_json_object('[{"a": 1}]')


def test_deep_nesting_does_not_escape_as_recursion_error() -> None:
    with pytest.raises(InvalidModelOutputError):
        extract_json_object('{"a":' * 100_000)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(), json_values, max_size=5)
# Prose around the answer: anything but braces and backticks, which would be answers of their own.
prose = st.text(alphabet=st.characters(blacklist_characters="{}`"), max_size=60)


@given(obj=json_objects, before=prose, after=prose, fence=st.sampled_from(["", "```", "```json"]),
       indent=st.sampled_from([None, 2]))
def test_any_object_wrapped_in_prose_or_fences_is_recovered(obj, before, after, fence, indent) -> None:
    body = json.dumps(obj, indent=indent, ensure_ascii=False)
    if fence:
        body = f"{fence}\n{body}\n```"
    assert extract_json_object(f"{before}{body}{after}") == obj


@given(st.text(max_size=300))
def test_arbitrary_text_only_ever_raises_invalid_model_output(text: str) -> None:
    try:
        result = extract_json_object(text)
    except InvalidModelOutputError:
        return
    assert isinstance(result, dict)


@given(st.text(alphabet='{}[]":,\\ a1\n`', max_size=200))
def test_json_punctuation_soup_only_ever_raises_invalid_model_output(text: str) -> None:
    with contextlib.suppress(InvalidModelOutputError):
        assert isinstance(extract_json_object(text), dict)
