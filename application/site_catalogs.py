"""Catalogs in an analyze request (SPEC §9.1): an array of items, ``{"items": [...]}`` or null;
items ``{id: int, name: str, vec}``. Any other shape is a 422 naming the bad element's path."""

from __future__ import annotations

from typing import Any

from domain.errors import ValidationFailedError
from domain.site.matching import CatalogItem
from domain.site.vectors import CatalogShapeError, parse_catalog_vec


def _bad(path: str, message: str) -> ValidationFailedError:
    return ValidationFailedError("the request body failed validation",
                                 details={"errors": [{"path": path, "message": message}]})


def parse_catalog(raw: Any, field: str) -> list[CatalogItem]:
    path = f"$.{field}"
    if raw is None:
        return []
    if isinstance(raw, dict):
        if set(raw) - {"items"}:
            raise _bad(path, "a catalog object may only hold `items`")
        raw = raw.get("items")
        path = f"{path}.items"
        if raw is None:
            return []
    if not isinstance(raw, list):
        raise _bad(path, "Expected an array of items or an object with `items`")
    items = []
    for index, item in enumerate(raw):
        at = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise _bad(at, "Expected an object {id, name, vec}")
        item_id, name = item.get("id"), item.get("name")
        if isinstance(item_id, bool) or not isinstance(item_id, int):
            raise _bad(f"{at}.id", "Expected `int`")
        if not isinstance(name, str) or not name.strip():
            raise _bad(f"{at}.name", "Expected a non-empty `str`")
        try:
            vec = parse_catalog_vec(item.get("vec"), f"{at}.vec")
        except CatalogShapeError as exc:
            raise _bad(exc.path, str(exc)) from None
        items.append(CatalogItem(id=item_id, name=name.strip(), vec=vec))
    return items
