"""The mock chat model's answer: the SPEC §9.2 template filled from the site text, without a
model (SPEC §9.6, ADR 0071). Deterministic: the same prompt always gives the same answer.

* the site text is what follows the prompt's «Текст сайта:» line after the class table
  (``domain.site.prompt``), else what follows the table, else the whole message;
* DESCRIPTION: the first two sentences;
* GOODS / EQUIPMENT_SITE: noun phrases after cue words (``adapters.chat.mock_phrases``):
  «выпускает стальные трубы» → «стальные трубы», «Оборудование: трубосварочный стан» →
  «трубосварочный стан»; no goods cue: the most frequent long words that are not verbs or
  common words; no equipment: «нет», as the prompt asks a model to write. GOODS_TYPE repeats
  GOODS;
* PRODCLASS: the class whose name shares the most word stems (the first 5 letters) with the
  text, the goods' stems counting once more; generic stems («завод», «предприятие»,
  «производство», …) do not count (ties: lowest id; none shared: an id picked by a hash of the
  text).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter

from adapters.chat.mock_phrases import goods_and_equipment, is_common, is_verb
from domain.site.answer import format_answer
from domain.site.prodclass import load_prodclasses
from domain.site.text import words

SCORE = 0.8
READ_CHARS = 200_000
NOTHING = "нет"
_MARKER = re.compile(
    r"^\s*(?:#+\s*)?(?:site[_ ]text|text[_ ]par|текст(?:\s+с)?\s+сайта|site)\s*[:=]?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_TABLE_END = re.compile(r"IB_PRODCLASS\s*=\s*\{.*?^\s*\}\s*$", re.DOTALL | re.MULTILINE)
_SENTENCE = re.compile(r"(?<=[.!?…])\s+")
# Stems shared by many class names or any company text: they say nothing about the class.
_GENERIC_STEMS = frozenset({
    "завод", "заводы", "предп", "произ", "компа", "обору", "проду", "издел", "типа", "типов",
    "други", "включ", "работ", "выпус", "прочи",
})


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
    goods, equipment = goods_and_equipment(text)
    goods = goods or _frequent(text)
    return format_answer(
        description=describe(text),
        prodclass=str(best_class(text, goods=goods)),
        equipment=equipment or [NOTHING],
        goods=goods or [NOTHING],
        goods_type=goods or [NOTHING],
        description_score=SCORE,
        okved_score=SCORE,
        prodclass_score=SCORE,
    )


def describe(text: str) -> str:
    sentences = [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]
    return " ".join(sentences[:2])[:500]


def _stems(text: str) -> set[str]:
    # A 5-letter prefix stands in for a stem: «станки» / «станков», «стальной» / «стальные».
    return {w[:5] for w in words(text) if len(w) >= 4 and not w.isdigit()} - _GENERIC_STEMS


@functools.cache
def _class_stems() -> tuple[tuple[int, frozenset[str]], ...]:
    return tuple((cls.id, frozenset(_stems(cls.name))) for cls in load_prodclasses())


def best_class(text: str, *, goods: list[str] | None = None) -> int:
    """The class sharing the most stems with the text plus the goods (a goods stem counts
    twice: what a plant makes says more than what its text mentions)."""
    stems = _stems(text)
    goods_stems = _stems(" ".join(goods or ()))
    best_id, best_shared = None, 0
    for class_id, names in _class_stems():
        shared = len(stems & names) + len(goods_stems & names)
        if shared > best_shared:
            best_id, best_shared = class_id, shared
    if best_id is not None:
        return best_id
    classes = load_prodclasses()
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return classes[int.from_bytes(digest, "big") % len(classes)].id


def _frequent(text: str) -> list[str]:
    counts = Counter(
        w for w in words(text) if len(w) >= 6 and not w.isdigit() and not is_verb(w)
        and not is_common(w) and w[:5] not in _GENERIC_STEMS
    )
    frequent: dict[str, str] = {}  # one word per stem: «кирпичи», not also «кирпичей»
    for word, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        frequent.setdefault(word[:5], word)
    return list(frequent.values())[:3]
