"""Text folding and word splitting shared by the site-analysis rules.

Every rule here compares words, never raw substrings, so all of them fold the
same way: case-folded, «ё» read as «е», any run of whitespace (NBSP included)
as one space, and hyphens read as word breaks («CRM-система» is two words).
"""

from __future__ import annotations

import re

_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Case-folded text with «ё» → «е» and whitespace collapsed, for comparisons."""
    return _SPACE.sub(" ", text.casefold().replace("ё", "е")).strip()


def words(text: str) -> list[str]:
    """The folded words of ``text``: runs of letters and digits; punctuation splits."""
    return _WORD.findall(fold(text))
