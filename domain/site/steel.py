"""Steel refinement of goods (SPEC §9.4; ADR 0062).

When the company is metallurgical and its goods mention steel products, the
five canonical TN VED heading names for flat-rolled, semi-finished and shaped
steel are put first. Both tests work on whole folded words, never substrings:

* metallurgical — OKVED 24.1 / 24.10 / 24.1x (24.10.1 …), or a marker phrase in
  the company name, description or site text («металлургический комбинат»,
  «металлургия», «сталеплавильный», «прокатный стан», «доменная печь», «steel
  mill» …) not preceded by «для» («оборудование для металлургии» is a
  supplier); a company name may also be a «…сталь» compound («Северсталь»).
* steel goods — «сталь», «стальной»/«стальная»/…, «сталью», «сталей»,
  «металлопрокат», «швеллер», «двутавр», «арматура» (not pipe fittings:
  «запорная арматура»), «катанка», «сляб», «штрипс», «горячекатаный» … The
  form «стали» counts only after «из», «для», «марки» or an adjective
  («нержавеющей стали»), or before a grade («стали 09Г2С»): «Мы стали лидером»
  is the verb. «прокат» counts with a metal qualifier («листовой прокат»,
  «прокат стальной») or alone, never as rental («прокат автомобилей»).
"""

from __future__ import annotations

import re

from domain.site.text import fold, words

STEEL_CANONICAL: tuple[str, ...] = (
    "Прокат плоский из железа или нелегированной стали",
    "Полуфабрикаты из железа или нелегированной стали",
    "Уголки, фасонные и специальные профили из железа или нелегированной стали",
    "Прутки и стержни горячекатаные из железа или нелегированной стали",
    "Прокат плоский из легированной стали",
)

_OKVED = re.compile(r"(?<![\d.])24\.1\d?(?:\.\d+)*(?![\d])")
_METALLURGY = re.compile(
    r"(?<!для )\b(?:металлургическ\w+ (?:комбинат|завод|предприяти|производств|холдинг|компани)\w*"
    r"|(?:черн|цветн)\w* металлурги\w*|металлурги[яию]|металлургией"
    r"|\w*сталеплавильн\w*|прокатн\w* стан\w*|прокатн\w* цех\w*|прокатн\w* производств\w*"
    r"|доменн\w* печ\w*|выплавк\w* стали|производств\w* (?:стали|проката|металлопроката)"
    r"|steel (?:mill|works|plant|maker|producer)s?|steelworks|metallurgical (?:plant|works|company))\b"
)
_STEEL_COMPOUND_NAME = re.compile(r"\b\w+сталь\b")
_STEEL_WORD = re.compile(
    r"сталь|сталью|сталей|стальн\w*|нержавейк\w*|нержавеющ\w*|металлопрокат\w*|швеллер\w*"
    r"|двутавр\w*|катанк\w*|сляб\w*|блюм\w*|штрипс\w*|горячекатан\w*|холоднокатан\w*"
    r"|steel|rebar"
)
_ROLLED_QUALIFIER = re.compile(
    r"листов\w*|сортов\w*|фасонн\w*|плоск\w*|металлическ\w*|черн\w*|стальн\w*|арматурн\w*"
    r"|горячекатан\w*|холоднокатан\w*|оцинкованн\w*|металл\w*|стали|сталь"
)
_FITTINGS = re.compile(r"трубопроводн\w*|запорн\w*|регулирующ\w*|предохранительн\w*|сантехническ\w*|фонтанн\w*")
_GRADE = re.compile(r"\w*\d\w*|марк\w*")
_STALI_BEFORE = re.compile(r"из|для|марки|марок|\w+(?:ой|ей)")


def is_metallurgical(
    company_name: str | None, okved: str | None, description: str | None, text: str | None
) -> bool:
    """True for OKVED 24.1x or a metallurgy marker in the name, description or site text."""
    if okved and _OKVED.search(okved):
        return True
    if company_name and _STEEL_COMPOUND_NAME.search(fold(company_name)):
        return True
    return any(
        _METALLURGY.search(" ".join(words(part))) for part in (company_name, description, text) if part
    )


def mentions_steel(goods: list[str]) -> bool:
    """True when an item names a steel product (whole words; not the verb «стали», not rental)."""
    return any(_names_steel(words(item)) for item in goods)


def refine_goods(
    goods: list[str],
    *,
    company_name: str | None,
    okved: str | None,
    description: str | None,
    text: str | None,
) -> list[str]:
    """The canonical steel headings first, then ``goods`` (deduplicated) — or ``goods`` as is."""
    if not (mentions_steel(goods) and is_metallurgical(company_name, okved, description, text)):
        return list(goods)
    refined: list[str] = []
    seen: set[str] = set()
    for item in (*STEEL_CANONICAL, *goods):
        if fold(item) not in seen:
            seen.add(fold(item))
            refined.append(item)
    return refined


def _names_steel(tokens: list[str]) -> bool:
    for index, word in enumerate(tokens):
        before = tokens[index - 1] if index else ""
        after = tokens[index + 1] if index + 1 < len(tokens) else ""
        if _STEEL_WORD.fullmatch(word):
            return True
        if word == "стали" and (_STALI_BEFORE.fullmatch(before) or _GRADE.fullmatch(after)):
            return True
        if word == "прокат" and (len(tokens) == 1 or _rolled_metal(before, after)):
            return True
        if word == "арматура" and not (_FITTINGS.fullmatch(before) or _FITTINGS.fullmatch(after)):
            return True
    return False


def _rolled_metal(before: str, after: str) -> bool:
    return bool(_ROLLED_QUALIFIER.fullmatch(before) or _ROLLED_QUALIFIER.fullmatch(after))
