"""A string that matches a regular expression, for sample generation.

Walks the parse tree of Python's own regex parser (``re._parser``; JSON Schema
patterns are ECMA-262, whose common subset Python parses the same way) and emits
one match. Lookarounds and flags are not modelled, so every result is verified
with ``re.search`` (the ``pattern`` keyword's semantics) and None means "no luck".
"""

from __future__ import annotations

import random
import re
from typing import Any

try:  # Private but stable since 3.11; without it only verification-free fallbacks remain.
    from re import _constants as sre
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover
    sre = sre_parse = None  # type: ignore[assignment]

_EXTRA_REPEATS = 3
_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.,"
_CATEGORY_CHARS = {
    "CATEGORY_DIGIT": "0123456789",
    "CATEGORY_NOT_DIGIT": "abcxyzABC_-",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": "abcxyz019",
    "CATEGORY_WORD": "abcxyzABC019_",
    "CATEGORY_NOT_WORD": " -.,",
}
_CATEGORY_REGEX = {
    name: re.compile(cls)
    for name, cls in (
        ("CATEGORY_DIGIT", r"\d"), ("CATEGORY_NOT_DIGIT", r"\D"), ("CATEGORY_SPACE", r"\s"),
        ("CATEGORY_NOT_SPACE", r"\S"), ("CATEGORY_WORD", r"\w"), ("CATEGORY_NOT_WORD", r"\W"),
    )
}


def string_matching(pattern: str, rng: random.Random) -> str | None:
    """A string ``re.search(pattern, s)`` accepts, or None when none was found."""
    if sre_parse is None:
        return None
    try:
        tree = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None
    for _ in range(8):
        groups: dict[int, str] = {}
        try:
            text = _emit(tree, rng, groups)
        except (_Unsupported, RecursionError):
            return None
        if re.search(pattern, text):
            return text
    return None


class _Unsupported(Exception):
    pass


def _emit(items: Any, rng: random.Random, groups: dict[int, str]) -> str:
    return "".join(_emit_one(op, av, rng, groups) for op, av in items)


def _emit_one(op: Any, av: Any, rng: random.Random, groups: dict[int, str]) -> str:
    if op is sre.LITERAL:
        return chr(av)
    if op is sre.NOT_LITERAL:
        return next(c for c in _SAFE if ord(c) != av)
    if op is sre.ANY:
        return rng.choice(_SAFE[:62])
    if op is sre.IN:
        return _emit_set(av, rng)
    if op is sre.BRANCH:
        return _emit(rng.choice(av[1]), rng, groups)
    if op is sre.SUBPATTERN:
        group, _, _, sub = av
        text = _emit(sub, rng, groups)
        if group is not None:
            groups[group] = text
        return text
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
        low, high, sub = av
        high = low + _EXTRA_REPEATS if high is sre.MAXREPEAT else min(high, low + _EXTRA_REPEATS)
        return "".join(_emit(sub, rng, groups) for _ in range(rng.randint(low, high)))
    if op is getattr(sre, "ATOMIC_GROUP", None):
        return _emit(av, rng, groups)
    if op is sre.GROUPREF:
        return groups.get(av, "")
    if op is sre.GROUPREF_EXISTS:
        group, yes, no = av
        branch = yes if group in groups else no
        return _emit(branch, rng, groups) if branch is not None else ""
    if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
        return ""
    raise _Unsupported(str(op))


def _emit_set(items: list[tuple[Any, Any]], rng: random.Random) -> str:
    negated = any(op is sre.NEGATE for op, _ in items)
    if negated:
        for char in _SAFE:
            if not any(_in_item(op, av, char) for op, av in items if op is not sre.NEGATE):
                return char
        raise _Unsupported("negated set excludes every safe character")
    op, av = rng.choice(items)
    if op is sre.LITERAL:
        return chr(av)
    if op is sre.RANGE:
        return chr(rng.randint(av[0], av[1]))
    if op is sre.CATEGORY:
        return rng.choice(_CATEGORY_CHARS.get(str(av), "a"))
    raise _Unsupported(str(op))


def _in_item(op: Any, av: Any, char: str) -> bool:
    if op is sre.LITERAL:
        return ord(char) == av
    if op is sre.RANGE:
        return av[0] <= ord(char) <= av[1]
    if op is sre.CATEGORY:
        regex = _CATEGORY_REGEX.get(str(av))
        return regex is not None and regex.fullmatch(char) is not None
    return False
