"""Cleaning the list sections of a site answer (SPEC §9.2).

A list is split on ``;`` and newlines (never on commas: «Трубы стальные,
оцинкованные» is one item). Each item loses its bullet (``-``, ``*``, ``•``,
``·``, dashes, ``1.`` / ``2)``), markdown emphasis, wrapping quotes or one
wrapping pair of brackets, and trailing ``.``/``,``. Items that are empty
markers («нет», «не указано», «n/a», «—», …) are dropped, and duplicates are
removed case-insensitively, keeping the first spelling.

Equipment items that *name* a non-production thing — a digital platform, a
site, a portal, a personal account, an information system, ERP, CRM, a
laboratory, a competence centre — are dropped. "Names" means the phrase is
the head of the item: every word before it is a modifier (a Russian adjective
by its ending, «веб»/«интернет»/«онлайн», a Latin or digit-bearing word such
as «1С» or «SAP»), so «Лаборатория», «Испытательная лаборатория», «CRM-система»,
«Корпоративный сайт компании» go, while «Оборудование для лаборатории» (a
preposition), «Оборудование лаборатории» (a noun first), «Лабораторный пресс»
(another word, whole-word matching) and «Платформа подъёмная» (no digital
modifier) stay. English phrases have their head last, so an English match must
also end the item or be followed by a preposition: «Testing laboratory» and
«Laboratory of metrology» go, «Laboratory equipment» stays. Only nominative
forms are listed: «станок для сайта» never matches.
"""

from __future__ import annotations

import re

from domain.site.text import fold, words

EMPTY_MARKERS: frozenset[str] = frozenset(
    {
        "нет", "нет данных", "данных нет", "нет информации", "информации нет",
        "нет сведений", "сведений нет", "не указано", "не указан", "не указана",
        "не указаны", "отсутствует", "отсутствуют", "не найдено", "не найден",
        "не найдены", "не обнаружено", "не выявлено", "не определено",
        "не определен", "неизвестно", "нет на сайте", "на сайте не указано",
        "данные отсутствуют", "информация отсутствует", "сведения отсутствуют",
        "none", "n/a", "na", "n.a", "null", "nil", "nan", "no", "no data",
        "not specified", "not found", "not available", "unknown", "empty",
        "-", "—", "–", "...", "…", "?",
    }
)

_TRAILING = ".,;:!"
_WRAPPING_QUOTES = {"«": "»", '"': '"', "'": "'", "“": "”", "„": "“", "‘": "’", "`": "`"}
_PUNCTUATION_ONLY = re.compile(r"[\W_]*")
_BULLET = re.compile(r"^(?:[•·‣▪●◦]\s*|[-*–—]+\s+|\d{1,3}[.)](?=\s|[^\W\d_])\s*)")
_MAX_UNWRAP = 4
_SPLIT = re.compile(r"[;\n\r]+")


def is_empty_marker(text: str) -> bool:
    """True for «нет», «Не указано.», « N/A », «—», an empty string and the like."""
    folded = fold(text).strip(_TRAILING + " ")
    if folded in EMPTY_MARKERS:
        return True
    unwrapped = folded.strip("«»\"'“”„()[] ").strip(_TRAILING + " ")
    return unwrapped in EMPTY_MARKERS or _PUNCTUATION_ONLY.fullmatch(unwrapped) is not None


def clean_item(raw: str) -> str:
    """One list item without bullet, emphasis, wrapping quotes/brackets and edge spaces."""
    item = raw.strip()
    for _ in range(_MAX_UNWRAP):  # «- **"Трубы"**» needs three passes; bounded against «[[[[…]]]]»
        previous = item
        item = _BULLET.sub("", item).strip()
        item = _unwrap(item).rstrip(_TRAILING).strip()
        if item == previous:
            break
    return item


def clean_list(raw: str) -> list[str]:
    """The cleaned, de-duplicated, non-empty items of a list section."""
    items: list[str] = []
    seen: set[str] = set()
    for piece in _SPLIT.split(raw):
        item = clean_item(piece)
        key = fold(item)
        if not item or is_empty_marker(item) or key in seen:
            continue
        seen.add(key)
        items.append(item)
    return items


def dedupe(items: list[str]) -> list[str]:
    """``items`` without case-insensitive duplicates, first spelling kept."""
    seen: set[str] = set()
    kept: list[str] = []
    for item in items:
        key = fold(item)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


def _unwrap(item: str) -> str:
    for marker in ("**", "__"):
        if len(item) > 2 * len(marker) and item.startswith(marker) and item.endswith(marker):
            return item[len(marker) : -len(marker)]
    if len(item) >= 2:
        closer = _WRAPPING_QUOTES.get(item[0])
        if closer is not None and item.endswith(closer) and closer not in item[1:-1]:
            return item[1:-1]
        if item[0] == "[" and _closing_index(item) == len(item) - 1:
            return item[1:-1]
    return item


def _closing_index(text: str) -> int | None:
    """Index of the ``]`` matching the ``[`` at index 0, or None if it never closes."""
    depth = 0
    for index, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return index
    return None


def _pattern(*parts: str, head_last: bool = False) -> tuple[tuple[re.Pattern[str], ...], bool]:
    return tuple(re.compile(part) for part in parts), head_last


_DIGITAL = r"цифров\w*|онлайн|электронн\w*|интернет|веб|облачн\w*|программн\w*|ит|it"
_NON_PRODUCTION = (
    _pattern(_DIGITAL, r"платформ[аы]"),
    _pattern(r"сайты?|вебсайты?|интернетсайты?"),
    _pattern(r"порталы?"),
    _pattern(r"личн(ый|ые)", r"кабинеты?"),
    _pattern(r"информационн(ая|ые)", r"систем[аы]"),
    _pattern(r"систем[аы]|systems?", r"crm|erp"),
    _pattern(r"crm|erp"),
    _pattern(r"лаборатори[яи]"),
    _pattern(r"центры?", r"компетенци[йи]"),
    _pattern(r"digital|online|web|cloud|software|it", r"platforms?", head_last=True),
    _pattern(r"websites?|portals?|laborator(y|ies)|labs?", head_last=True),
    _pattern(r"web", r"sites?", head_last=True),
    _pattern(r"personal|user|customer|client", r"accounts?|cabinets?", head_last=True),
    _pattern(r"information", r"systems?", head_last=True),
    _pattern(r"competence|competency", r"cent(re|er)s?", head_last=True),
    _pattern(r"cent(re|er)s?", r"of", r"competence|competency|excellence", head_last=True),
)
_ADJECTIVE_END = re.compile(r"[а-я]+(ый|ий|ой|ая|яя|ое|ее|ые|ие)")
_VERBAL_NOUN_END = re.compile(r"[а-я]+(ание|яние|ение|тие|вие)")
_MODIFIER_WORDS = frozenset({"веб", "интернет", "онлайн", "наш", "наша", "наше", "наши", "своя", "свой"})
_PREPOSITIONS = frozenset({"for", "of", "with", "in", "on", "at", "by", "to", "from", "and"})


def _is_modifier(word: str) -> bool:
    if word in _MODIFIER_WORDS or any(char.isdigit() for char in word):
        return True
    if word.isascii():
        return word not in _PREPOSITIONS
    return bool(_ADJECTIVE_END.fullmatch(word)) and not _VERBAL_NOUN_END.fullmatch(word)


def is_non_production_equipment(item: str) -> bool:
    """True when ``item`` names a platform, site, portal, account, IS, ERP/CRM, lab or centre."""
    tokens = words(item)
    for start in range(len(tokens)):
        if start and not _is_modifier(tokens[start - 1]):
            return False  # a noun or preposition came first: the phrase is not the head
        for parts, head_last in _NON_PRODUCTION:
            end = start + len(parts)
            if end > len(tokens):
                continue
            if not all(part.fullmatch(word) for part, word in zip(parts, tokens[start:end], strict=True)):
                continue
            if not head_last or end == len(tokens) or tokens[end] in _PREPOSITIONS:
                return True
    return False


def filter_equipment(items: list[str]) -> list[str]:
    """``items`` without the ones that name non-production things (order kept)."""
    return [item for item in items if not is_non_production_equipment(item)]
