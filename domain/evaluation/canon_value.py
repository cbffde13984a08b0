"""The result of canonicalising one value: a canonical string, nothing, or a reason."""

from __future__ import annotations

import msgspec


class Canon(msgspec.Struct, frozen=True):
    """``value`` is the canonical text; both None means the value is empty or absent.

    ``error`` is a short, stable reason the value could not be canonicalised
    (e.g. "ambiguous separator", "not a real date"); ``value`` is then None.
    """

    value: str | None = None
    error: str | None = None

    @property
    def empty(self) -> bool:
        return self.value is None and self.error is None


EMPTY = Canon()


def ok(value: str) -> Canon:
    return Canon(value=value)


def fail(reason: str) -> Canon:
    return Canon(error=reason)
