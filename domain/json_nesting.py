"""Client JSON with bounded nesting (issue 12).

A decoder recursing into 1,000 nested brackets raises ``RecursionError`` — where depends on
how deep the stack already is — and a value that decoded just under that point can still
break code that walks it later (schema validation, comparison, re-encoding). So every
decoded client value is bounded at a depth no request of this service comes near."""

from __future__ import annotations

from typing import Any

import msgspec

from domain.errors import InvalidInputError

MAX_JSON_DEPTH = 64


def nesting_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays/objects nest deeper than ``limit`` (``[]`` is depth 1). Level by level,
    without recursion; a typical body (a few keys around one long string) costs microseconds,
    and no value costs more than decoding it did."""
    level = [value] if isinstance(value, (list, dict)) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        deeper: list[Any] = []
        for container in level:
            items = container.values() if isinstance(container, dict) else container
            deeper += [item for item in items if isinstance(item, (list, dict))]
        level = deeper
    return False


def too_deep() -> InvalidInputError:
    return InvalidInputError(f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep",
                             details={"max_depth": MAX_JSON_DEPTH})


def check_nesting(value: Any) -> Any:
    """``value`` itself, or ``InvalidInputError`` when it nests too deeply."""
    if nesting_exceeds(value):
        raise too_deep()
    return value


def decode_json(raw: bytes | str) -> Any:
    """``msgspec.json.decode`` of client bytes, nesting bounded (``InvalidInputError``);
    text that is not JSON raises ``msgspec.DecodeError`` as from msgspec itself."""
    try:
        value = msgspec.json.decode(raw)
    except RecursionError:  # msgspec stops at the interpreter's recursion limit
        raise too_deep() from None
    return check_nesting(value)
