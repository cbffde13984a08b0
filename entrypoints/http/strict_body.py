"""JSON bodies hold the types the document gives them.

Litestar converts a decoded body to its Struct with ``strict=False`` (so that query strings can
become numbers), which also lets a body through with ``0``/``1`` for a boolean, ``"4"`` for an
integer. The document says otherwise, so the body is checked strictly first: a wrong type is a
422 with its path, like any other body that fails validation.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import SerializationException, ValidationException
from litestar.params import BodyKwarg


def _json_body_type(request: Request) -> Any:
    field = request.route_handler.parsed_data_field
    if field is None or not isinstance(field.kwarg_definition, BodyKwarg):
        return None
    if field.kwarg_definition.media_type != RequestEncodingType.JSON:
        return None
    return field.annotation


def _integral_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral_floats_as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(v) for v in value]
    return value


async def check_body_types(request: Request) -> None:
    """A ``before_request`` hook: it runs after the guards (a key is checked before any body is read)."""
    body_type = _json_body_type(request)
    if body_type is None:
        return
    try:
        value = await request.json()
    except SerializationException:
        return  # not JSON at all: litestar answers it (400) when it reads the body itself
    try:
        try:
            msgspec.convert(value, body_type, strict=True)
        except msgspec.ValidationError:
            # JSON Schema counts 4.0 as an integer, strict msgspec does not: only if the fast
            # check fails is the body walked to read such numbers as integers.
            msgspec.convert(_integral_floats_as_ints(value), body_type, strict=True)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `")
        path = where.rstrip("`")
        key = path[2:] if path.startswith("$.") else None
        raise ValidationException(extra=[{"message": message, "key": key, "source": "body"}]) from None
