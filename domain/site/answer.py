"""The site-analysis answer: the eight-tag template, its tolerant parser and writer.

Reading rules (SPEC §9.2; ADR 0060). A tag is recognised, case-insensitively,
  * in brackets anywhere in a line — ``[GOODS]=``, ``**[GOODS]**:``, ``[GOODS=``
    (closing bracket missing); the separator is then optional;
  * in bold anywhere — ``**GOODS**:``, ``**GOODS:**``;
  * bare at the start of a line (after a bullet or ``#``) — ``goods: …``;
  * bare in the middle of a line only when written in capitals — ``… GOODS — …``.
Bare tags need a separator: ``=``, ``:`` or a dash (``-``, ``–``, ``—``). A value
runs to the next tag, over as many lines as it takes. One outer ``[…]`` is
removed (its ``]`` may be missing); inner brackets stay (``Товар [1]``). When a
tag appears twice, the first occurrence wins. Code-fence lines are ignored.
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from domain.site.errors import AnswerParseError
from domain.site.lists import clean_list, filter_equipment, is_empty_marker
from domain.site.scores import parse_score

TAGS: tuple[str, ...] = (
    "DESCRIPTION", "DESCRIPTION_SCORE", "OKVED_SCORE", "PRODCLASS", "PRODCLASS_SCORE",
    "EQUIPMENT_SITE", "GOODS", "GOODS_TYPE",
)
REQUIRED_TAGS: tuple[str, ...] = ("DESCRIPTION", "PRODCLASS", "EQUIPMENT_SITE", "GOODS", "GOODS_TYPE")
TEMPLATE_LINES: tuple[str, ...] = (
    "[DESCRIPTION]=[…]",
    "[DESCRIPTION_SCORE]=[0.00–1.00]",
    "[OKVED_SCORE]=[0.00–1.00]",
    "[PRODCLASS]=[class id]",
    "[PRODCLASS_SCORE]=[0.00–1.00]",
    "[EQUIPMENT_SITE]=[item1; item2; …]",
    "[GOODS]=[item1; item2; …]",
    "[GOODS_TYPE]=[TN VED heading name1; name2; …]",
)


class SiteAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """What the model said about a site, cleaned; ``sections`` keeps each tag's text."""

    description: str
    description_score: float | None
    okved_score: float | None
    prodclass_raw: str
    prodclass_score: float | None
    equipment: list[str]
    goods: list[str]
    goods_type: list[str]
    goods_type_source: Literal["GOODS_TYPE", "GOODS"]
    sections: dict[str, str]


_NAMES = "|".join(sorted(TAGS, key=len, reverse=True))
_BOLD = r"(?:\*\*)"
_SEP = r"(?:[:=]{1,2}|[-–—])"
_SP = r"[ \t]*+"  # possessive: runs of blanks never backtrack (no quadratic inputs)
_BULLET = r"(?:[-*•#>]{1,3}|\d{1,2}[.)])"
_LEAD = rf"(?:^{_SP}{_BULLET}{_SP})"  # a bullet, heading mark or number before the tag
_TAG = re.compile(
    rf"{_LEAD}?{_BOLD}?\[{_SP}{_BOLD}?(?P<bracketed>(?i:{_NAMES}))(?!\w){_BOLD}?{_SP}\]?{_BOLD}?{_SP}{_SEP}?"
    rf"|{_LEAD}?{_BOLD}{_SP}(?P<bold>(?i:{_NAMES}))(?!\w)(?:{_SP}{_SEP})?{_SP}{_BOLD}{_SP}{_SEP}?"
    rf"|^{_SP}(?:{_BULLET}{_SP})?(?P<line>(?i:{_NAMES}))(?!\w){_SP}{_SEP}"
    rf"|(?<!\w)(?P<caps>{_NAMES})(?!\w){_SP}{_SEP}",
    re.MULTILINE,
)
_FENCE = re.compile(r"^[ \t]*```[^\n]*$", re.MULTILINE)


def split_sections(text: str) -> dict[str, str]:
    """Each tag found in ``text`` → its value, outer brackets removed and stripped."""
    text = _FENCE.sub("", text)
    found = list(_TAG.finditer(text))
    sections: dict[str, str] = {}
    for index, match in enumerate(found):
        name = next(group for group in match.groups() if group is not None).upper()
        end = found[index + 1].start() if index + 1 < len(found) else len(text)
        if name not in sections:
            sections[name] = unwrap_value(text[match.end() : end])
    return sections


def unwrap_value(raw: str) -> str:
    """``raw`` stripped, without one outer ``[…]`` (a missing ``]`` is tolerated)."""
    value = raw.strip()
    if len(value) > 4 and value.startswith("**") and value.endswith("**") and "**" not in value[2:-2]:
        value = value[2:-2].strip()
    depth, opened_at_start, closed_at = 0, value.startswith("["), None
    for index, char in enumerate(value):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0 and closed_at is None:
                closed_at = index
            if depth < 0:  # a stray ``]`` closes a wrapper whose ``[`` was left out
                depth = 0
                if index == len(value) - 1 and not opened_at_start:
                    return value[:-1].strip()
    if opened_at_start and closed_at in (None, len(value) - 1):
        return value[1:closed_at].strip()
    return value


def parse_answer(text: str) -> SiteAnswer:
    """The answer in ``text``; AnswerParseError when it is empty or a required tag is missing."""
    if not text or not text.strip():
        raise AnswerParseError("empty answer")
    sections = split_sections(text)
    missing = [tag for tag in REQUIRED_TAGS if tag not in sections]
    if missing:
        raise AnswerParseError(f"missing required tags: {', '.join(missing)}")
    goods = clean_list(sections["GOODS"])
    goods_type = clean_list(sections["GOODS_TYPE"])
    description = sections["DESCRIPTION"]
    return SiteAnswer(
        description="" if is_empty_marker(description) else description,
        description_score=parse_score(sections.get("DESCRIPTION_SCORE")),
        okved_score=parse_score(sections.get("OKVED_SCORE")),
        prodclass_raw=sections["PRODCLASS"],
        prodclass_score=parse_score(sections.get("PRODCLASS_SCORE")),
        equipment=filter_equipment(clean_list(sections["EQUIPMENT_SITE"])),
        goods=goods,
        goods_type=goods_type or list(goods),
        goods_type_source="GOODS_TYPE" if goods_type else "GOODS",
        sections=sections,
    )


def format_answer(
    *,
    description: str,
    prodclass: str | int,
    equipment: list[str],
    goods: list[str],
    goods_type: list[str],
    description_score: float | None = None,
    okved_score: float | None = None,
    prodclass_score: float | None = None,
) -> str:
    """The canonical eight lines ``[TAG]=[value]``; lists joined with "; ", scores 2 decimals."""
    values = {
        "DESCRIPTION": description,
        "DESCRIPTION_SCORE": _score(description_score),
        "OKVED_SCORE": _score(okved_score),
        "PRODCLASS": str(prodclass),
        "PRODCLASS_SCORE": _score(prodclass_score),
        "EQUIPMENT_SITE": "; ".join(equipment),
        "GOODS": "; ".join(goods),
        "GOODS_TYPE": "; ".join(goods_type),
    }
    return "\n".join(f"[{tag}]=[{values[tag]}]" for tag in TAGS)


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"
