"""The 110 production classes (SPEC §9.3), read from the packaged ``ib_prodclass.psv``.

The file is a copy of ``reference/ib_prodclass.psv`` shipped inside the package, so the
service never reads the shared reference folder at run time.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from importlib import resources

import msgspec

_DATA_FILE = "ib_prodclass.psv"
_EXPECTED_CLASSES = 110
_SPACES = re.compile(r"\s+")


class ProdClass(msgspec.Struct, frozen=True):
    id: int
    name: str


@functools.cache
def load_prodclasses() -> tuple[ProdClass, ...]:
    """All classes in ascending id order (the order every score array is aligned with)."""
    text = resources.files("domain.site").joinpath(_DATA_FILE).read_text(encoding="utf-8")
    classes = tuple(sorted(_parse(text), key=lambda c: c.id))
    ids = [c.id for c in classes]
    if len(classes) != _EXPECTED_CLASSES or len(set(ids)) != len(ids):
        raise ValueError(f"{_DATA_FILE}: expected {_EXPECTED_CLASSES} unique ids, got {len(set(ids))}")
    return classes


@functools.cache
def class_by_id() -> dict[int, ProdClass]:
    return {c.id: c for c in load_prodclasses()}


def normalize_name(text: str) -> str:
    """Comparable form of a name: lowercase, ``ё`` → ``е``, punctuation and quotes
    replaced by spaces, whitespace collapsed (``"ПЭТ-преформ"`` == ``"пэт преформ"``)."""
    lowered = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    kept = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in lowered)
    return _SPACES.sub(" ", kept).strip()


def _parse(text: str) -> list[ProdClass]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or number == 1 and line.lower() == "id|name":
            continue
        raw_id, sep, name = line.partition("|")
        if not sep or not raw_id.strip().isdigit() or not name.strip():
            raise ValueError(f"{_DATA_FILE}:{number}: expected 'id|name'")
        rows.append(ProdClass(id=int(raw_id), name=name.strip()))
    return rows
