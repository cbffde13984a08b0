"""Goods and equipment phrases for the mock chat answer (ADR 0071, refined by ADR 0074).

Deterministic and linear in the text: the text is cut into clauses (``.!?;`` and line
breaks), each clause looked at once.

* Goods: the words after a verb cue («производит», «выпускаем», …) or after a label with a
  colon or dash («Продукция: …»), split on commas, «и», «а также».
* Equipment: the items after a label with a colon or dash («Оборудование: …»), else, in a
  clause without a goods cue, the comma-separated items that name equipment («прокатные
  станы», «оборудование для резки металла»).
* An item is what follows its last verb, without leading common words («На заводе работают
  прокатные станы» → «прокатные станы»), and ends before «который»; at most five words.

A verb is a word in a small list or with a verb ending («-ает», «-ить», «-тся», …); nouns
with such endings that a site text uses («печать», «сеть») are exempt.
"""

from __future__ import annotations

import re

MAX_ITEMS = 6
MAX_WORDS = 5
_CLAUSE_CHARS = 500
_CLAUSE = re.compile(r"[^.!?;…\n]+")
_TOKEN = re.compile(r"[^\W_]+(?:-[^\W_]+)*")
_LABEL_SEPARATOR = re.compile(r"\s*(?:[:—–]|-\s)\s*")
_ITEM_SPLIT = re.compile(r",|\s+и\s+|\s+а также\s+|\s+—\s+|\s+–\s+")

_GOODS_VERBS = frozenset({
    "производим", "производит", "производят", "выпускаем", "выпускает", "выпускают",
    "изготавливаем", "изготавливает", "изготавливают", "изготовляем", "поставляем",
    "поставляет", "предлагаем", "предлагает", "produce", "produces", "manufacture",
    "manufactures",
})
_GOODS_LABELS = frozenset({"продукция", "продукцию", "ассортимент", "товары", "products", "goods"})
_EQUIPMENT_LABELS = frozenset({"оборудование", "оснащение", "парк", "equipment", "machines"})
# Stems (first 5 letters) of nouns that name production equipment.
_EQUIPMENT_STEMS = frozenset({
    "обору", "стан", "станы", "станк", "стано", "пресс", "печи", "печь", "печей", "линия",
    "линии", "линий", "устан", "агрег", "робот", "котел", "котлы", "equip", "machi",
})
_VERB_ENDINGS = ("ает", "яет", "еет", "ует", "ают", "яют", "еют", "уют", "аем", "яем", "еем",
                 "уем", "ить", "ать", "ять", "еть", "уть", "тся", "ться", "ешь", "ишь")
_NOT_VERBS = frozenset({"печать", "кровать", "сеть", "память", "мать", "знать"})
_VERBS = frozenset({"является", "являются", "работает", "работают", "имеет", "имеют", "входит",
                    "включает", "проводит", "выводит", "можем", "может", "есть", "is", "are"})
_COMMON = frozenset({
    "а", "и", "в", "во", "на", "с", "со", "по", "для", "из", "от", "к", "о", "об", "при", "под",
    "до", "за", "у", "мы", "наш", "наша", "наше", "наши", "нашей", "нашего", "нашу", "наших",
    "нашим", "свою", "свой", "свои", "своих", "своей", "также", "том", "числе", "том числе",
    "компания", "компании", "завод", "заводе", "завода", "предприятие", "предприятия",
    "предприятии", "широкий", "широкую", "ассортимент", "ряд", "виды", "различные",
    "различных", "продукцию", "продукция", "продукции", "это", "все", "всё", "the", "a", "an",
    "we", "our", "and", "of",
})
_ENDS_ITEM = frozenset({"который", "которые", "которая", "которое", "которых", "которым",
                        "что", "чтобы", "где", "если"})


def goods_and_equipment(text: str) -> tuple[list[str], list[str]]:
    goods: list[str] = []
    equipment: list[str] = []
    for match in _CLAUSE.finditer(text):
        clause = match.group()[:_CLAUSE_CHARS]
        tokens = [(m.start(), m.end(), _fold(m.group())) for m in _TOKEN.finditer(clause)]
        goods_at = _goods_cue(clause, tokens)
        if goods_at is not None and len(goods) < MAX_ITEMS:
            _add(goods, _items(clause[goods_at:]))
        label_at = _label(clause, tokens, _EQUIPMENT_LABELS)
        if label_at is not None:
            _add(equipment, _items(clause[label_at:]))
        elif goods_at is None:
            _add(equipment, [i for i in _items(clause) if _names_equipment(i)])
        if len(goods) >= MAX_ITEMS and len(equipment) >= MAX_ITEMS:
            break
    return goods[:MAX_ITEMS], equipment[:MAX_ITEMS]


def is_verb(word: str) -> bool:
    folded = _fold(word)
    if folded in _NOT_VERBS:
        return False
    return folded in _VERBS or folded in _GOODS_VERBS or (
        len(folded) > 4 and folded.endswith(_VERB_ENDINGS))


def is_common(word: str) -> bool:
    return _fold(word) in _COMMON


def _fold(word: str) -> str:
    return word.casefold().replace("ё", "е")


def _goods_cue(clause: str, tokens: list[tuple[int, int, str]]) -> int | None:
    """Where the goods start: after the first goods verb, else after a goods label and its colon."""
    for _, end, word in tokens:
        if word in _GOODS_VERBS:
            return end
    return _label(clause, tokens, _GOODS_LABELS)


def _label(clause: str, tokens: list[tuple[int, int, str]], labels: frozenset[str]) -> int | None:
    """After ``<label>:`` or ``<label> —``; one word may sit between («Продукция завода:»)."""
    for index, (_, end, word) in enumerate(tokens):
        if word not in labels:
            continue
        ends = [end] + [t[1] for t in tokens[index + 1:index + 2]]
        for after in ends:
            separator = _LABEL_SEPARATOR.match(clause, after)
            if separator is not None:
                return separator.end()
    return None


def _items(tail: str) -> list[str]:
    """Items of a list: each part cut at «который», then what follows its last verb, without
    leading or trailing common words, at most ``MAX_WORDS`` words."""
    found = []
    for part in _ITEM_SPLIT.split(tail):
        words = [m.group() for m in _TOKEN.finditer(part)]
        end = next((i for i, w in enumerate(words) if _fold(w) in _ENDS_ITEM), len(words))
        words = words[:end]
        start = max((i + 1 for i, w in enumerate(words) if is_verb(w)), default=0)
        while start < len(words) and is_common(words[start]):
            start += 1
        kept = words[start:start + MAX_WORDS]
        while kept and is_common(kept[-1]):
            kept.pop()
        item = " ".join(kept)
        if len(item) >= 3 and not item.replace(" ", "").isdigit():
            found.append(item)
    return found


def _names_equipment(item: str) -> bool:
    return any(_fold(w)[:5] in _EQUIPMENT_STEMS for w in _TOKEN.findall(item))


def _add(found: list[str], items: list[str]) -> None:
    seen = {_fold(i) for i in found}
    for item in items:
        if _fold(item) not in seen:
            seen.add(_fold(item))
            found.append(item)
