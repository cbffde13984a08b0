"""Production class resolution (SPEC §9.3): the model's PRODCLASS section, checked and,
when needed, replaced by the embedding guess. Pure and deterministic (ADR 0065).

Sources, in the order they are tried: ``model_reply`` (a class id as an integer token),
``name_match`` (the section names a class), ``text_embedding_fallback`` (the guess);
``text_embedding_override`` replaces a model_reply/name_match class with a clearly
better guess. Score sources: ``model_reply``, ``text_embedding_verify``,
``text_embedding_fallback``, ``text_embedding_override``, ``not_available``.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

import msgspec
import numpy as np

from domain.receipts.errors import InvalidModelOutputError
from domain.site.prodclass import class_by_id, load_prodclasses, normalize_name
from domain.site.similarity import best_index, score_round
from domain.site.thresholds import ProdclassThresholds

# Scores are rounded to 4 decimals; comparisons allow for the float error of a sum
# such as 0.55 + 0.1, so a score exactly on a threshold passes it.
_EPS = 1e-9

# An integer token: no letter, digit or underscore right before or after it, not a part of a
# decimal ("0.85", "1,5", ".5"), not a percentage ("85%").
_INTEGER_TOKEN = re.compile(r"(?<![\w.,])(\d+)(?![\w%]|[.,]\d)")
# Empty-answer markers and other words that must never be read as a class name.
_STOP_PHRASES = frozenset(normalize_name(p) for p in (
    "нет", "да", "n/a", "na", "none", "null", "unknown", "нет данных", "не указано",
    "не указан", "не определено", "не определен", "отсутствует", "неизвестно", "other", "другое",
))
_MIN_WORD = 4  # a section needs a word at least this long to name a class


class ProdclassUnresolvedError(InvalidModelOutputError):
    """Neither the model's answer nor the embedding guess gives a production class."""

    def __init__(self, section: str) -> None:
        super().__init__("no production class",
                         details={"reason": "no production class", "prodclass_raw": section[:200]})


class ProdclassResolution(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    title: str
    score: float
    score_source: str
    source: str
    embed_guess_id: int | None
    embed_guess_score: float | None


def resolve_prodclass(
    section: str | None,
    model_score: float | None,
    class_scores: np.ndarray | None,
    thresholds: ProdclassThresholds | None = None,
) -> ProdclassResolution:
    """``class_scores``: the embedding score of every class for the site text, aligned with
    ``load_prodclasses()`` (ascending id), or None when embeddings were unavailable."""
    limits = thresholds or ProdclassThresholds()
    classes = load_prodclasses()
    text = section or ""
    scores = _aligned(class_scores, len(classes))
    guess_id, guess_score = _guess(scores, limits)

    chosen, source = class_id_in(text), "model_reply"
    if chosen is None:
        chosen = class_named_in(text, limits.name_match_ratio, limits.name_match_lead)
        source = "name_match"
    if chosen is None:
        if guess_id is None:
            raise ProdclassUnresolvedError(text)
        chosen, source = guess_id, "text_embedding_fallback"
    elif _overridden(chosen, guess_id, guess_score, scores, limits):
        chosen, source = guess_id, "text_embedding_override"

    if source.startswith("text_embedding_"):
        score, score_source = guess_score, source
    elif model_score is not None:
        score, score_source = score_round(model_score), "model_reply"
    elif scores is not None:
        score, score_source = _score_of(scores, chosen), "text_embedding_verify"
    else:
        score, score_source = 0.0, "not_available"
    return ProdclassResolution(
        id=chosen, title=class_by_id()[chosen].name, score=float(score), score_source=score_source,
        source=source, embed_guess_id=guess_id, embed_guess_score=guess_score,
    )


def _aligned(class_scores: np.ndarray | None, count: int) -> np.ndarray | None:
    if class_scores is None:
        return None
    scores = np.asarray(class_scores, dtype=np.float64)
    if scores.shape != (count,):
        raise ValueError(f"class scores must have shape ({count},), got {scores.shape}")
    return scores


def _guess(scores: np.ndarray | None, limits: ProdclassThresholds) -> tuple[int | None, float | None]:
    if scores is None:
        return None, None
    index = best_index(scores, keys=[c.id for c in load_prodclasses()])
    score = score_round(scores[index])
    if score < limits.guess_min - _EPS:
        return None, None
    return load_prodclasses()[index].id, score


def _score_of(scores: np.ndarray, class_id: int) -> float:
    index = next(i for i, c in enumerate(load_prodclasses()) if c.id == class_id)
    return score_round(scores[index])


def _overridden(chosen: int, guess_id: int | None, guess_score: float | None,
                scores: np.ndarray | None, limits: ProdclassThresholds) -> bool:
    if guess_id is None or guess_score is None or scores is None or guess_id == chosen:
        return False
    return (guess_score >= limits.override_min - _EPS
            and guess_score >= _score_of(scores, chosen) + limits.override_margin - _EPS)


def class_id_in(section: str) -> int | None:
    """The first integer token of ``section`` that is a known class id."""
    known = class_by_id()
    for match in _INTEGER_TOKEN.finditer(section):
        value = int(match.group(1))
        if value in known:
            return value
    return None


def class_named_in(section: str, min_ratio: float, min_lead: float = 0.0) -> int | None:
    """The class named by ``section``: a whole class name contained in it (the longest,
    then the lowest id), else the best difflib ratio ≥ ``min_ratio`` over whole names,
    ahead of the runner-up by ≥ ``min_lead`` (ties → lowest id). Stop phrases and
    sections without a word of 4+ letters name nothing."""
    text = normalize_name(section)
    if text in _STOP_PHRASES or not any(len(w) >= _MIN_WORD and w.isalpha() for w in text.split()):
        return None
    names = [(c.id, normalize_name(c.name)) for c in load_prodclasses()]
    padded = f" {text} "
    contained = [(len(name), -cid) for cid, name in names if f" {name} " in padded]
    if contained:
        return -max(contained)[1]
    ranked = sorted(((-SequenceMatcher(None, text, name, autojunk=False).ratio(), cid)
                     for cid, name in names))
    (best, best_id), (runner_up, _) = ranked[0], ranked[1]
    if -best < min_ratio - _EPS or runner_up - best < min_lead - _EPS:
        return None
    return best_id
