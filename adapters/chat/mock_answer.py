"""The mock chat model's answer: the SPEC §9.2 template filled from the site text, without a
model (SPEC §9.6, ADR 0071). Deterministic: the same prompt always gives the same answer.

* the site text is what follows the prompt's «Текст сайта:» line after the class table
  (``domain.site.prompt``), else what follows the table, else the whole message;
* DESCRIPTION: the first two sentences;
* PRODCLASS: the class whose name shares the most word stems with the text (ties: lowest id;
  none shared: an id picked by a hash of the text);
* GOODS / EQUIPMENT_SITE: the phrases after cue words («производим», «продукция», …;
  «оборудование», «станки», …), else the most frequent long words; GOODS_TYPE repeats GOODS.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

from domain.site.answer import format_answer
from domain.site.prodclass import load_prodclasses
from domain.site.text import words

SCORE = 0.8
MAX_ITEMS = 6
READ_CHARS = 200_000
_CLAUSE_WINDOW = 500
_MARKER = re.compile(
    r"^\s*(?:#+\s*)?(?:site[_ ]text|text[_ ]par|текст(?:\s+с)?\s+сайта|site)\s*[:=]?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_TABLE_END = re.compile(r"IB_PRODCLASS\s*=\s*\{.*?^\s*\}\s*$", re.DOTALL | re.MULTILINE)
_SENTENCE = re.compile(r"(?<=[.!?…])\s+")
_CLAUSE = re.compile(r"[.!?;:\n]")
_ITEM_SPLIT = re.compile(r",|\s+и\s+|\s+а также\s+|\s+—\s+|\s+-\s+")
_GOODS_CUES = (
    "производим", "производит", "производство", "выпускаем", "выпускает", "изготавливаем",
    "изготавливает", "изготовление", "продукция", "продукцию", "поставляем", "ассортимент",
    "предлагаем", "produce", "products", "manufacture",
)
_EQUIPMENT_CUES = (
    "оборудование", "оборудования", "станки", "станков", "станок", "линии", "линия",
    "линий", "установки", "прессы", "печи", "оснащено", "оснащен", "equipment", "machines",
)
_STOP = frozenset(
    {
        "который", "которые", "которая", "также", "более", "наших", "нашей", "нашего",
        "компания", "компании", "предприятие", "предприятия", "продукция", "продукции",
        "производство", "производства", "оборудование", "оборудования", "является",
        "являются", "своих", "своей", "других", "россии", "россия", "работаем", "услуги",
    }
)


def site_text(message: str) -> str:
    """The site text inside a user message built by the prompt builder: after the first marker
    line («Текст сайта:») that follows the class table — the site text itself may hold such a
    line — else after the table, else after the first marker, else the whole message."""
    table = _TABLE_END.search(message)
    start = table.end() if table else 0
    marker = _MARKER.search(message, start)
    if marker is not None:
        return message[marker.end():].strip()
    return message[start:].strip()


def compose_answer(message: str) -> str:
    """The template answer for the last user message. Like a model's context window, it reads
    at most ``READ_CHARS`` of the site text (a 6 MB text must not cost seconds of CPU)."""
    text = site_text(message)[:READ_CHARS]
    goods = _items(text, _GOODS_CUES) or _frequent(text, skip=())
    equipment = _items(text, _EQUIPMENT_CUES) or _frequent(text, skip=goods)
    return format_answer(
        description=describe(text),
        prodclass=str(best_class(text)),
        equipment=equipment,
        goods=goods,
        goods_type=goods,
        description_score=SCORE,
        okved_score=SCORE,
        prodclass_score=SCORE,
    )


def describe(text: str) -> str:
    sentences = [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]
    return " ".join(sentences[:2])[:500]


def _stems(text: str) -> set[str]:
    # A 5-letter prefix stands in for a stem: «станки» / «станков», «стальной» / «стальные».
    return {w[:5] for w in words(text) if len(w) >= 4 and not w.isdigit()}


def best_class(text: str) -> int:
    classes = load_prodclasses()
    stems = _stems(text)
    best_id, best_shared = None, 0
    for cls in classes:
        shared = len(stems & _stems(cls.name))
        if shared > best_shared:
            best_id, best_shared = cls.id, shared
    if best_id is not None:
        return best_id
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return classes[int.from_bytes(digest, "big") % len(classes)].id


def _items(text: str, cues: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    lowered = text.casefold().replace("ё", "е")
    for cue in cues:
        for match in re.finditer(rf"(?<!\w){cue}(?!\w)", lowered):
            # A clause ends within a few hundred characters; never split the rest of a long text
            # once per match (that was quadratic in the text's length).
            window = text[match.end():match.end() + _CLAUSE_WINDOW]
            clause = _CLAUSE.split(window, maxsplit=1)[0]
            for part in _ITEM_SPLIT.split(clause):
                item = " ".join(part.strip(" «»\"'()").split()[:5])
                if len(item) >= 3 and words(item) and item.casefold() not in map(str.casefold, found):
                    found.append(item)
            if len(found) >= MAX_ITEMS:
                return found[:MAX_ITEMS]
    return found[:MAX_ITEMS]


def _frequent(text: str, *, skip: list[str]) -> list[str]:
    skipped = {w for item in skip for w in words(item)}
    counts = Counter(
        w for w in words(text) if len(w) >= 6 and w not in _STOP and w not in skipped
        and not w.isdigit()
    )
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]]
