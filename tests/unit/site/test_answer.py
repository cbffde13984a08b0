from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.errors import ErrorKind
from domain.receipts.errors import InvalidModelOutputError
from domain.site.answer import (
    REQUIRED_TAGS,
    TAGS,
    TEMPLATE_LINES,
    SiteAnswer,
    format_answer,
    parse_answer,
)
from domain.site.errors import AnswerParseError
from domain.site.lists import clean_list, is_empty_marker, is_non_production_equipment

CANONICAL = format_answer(
    description="Завод выпускает стальные трубы [ГОСТ 10704].",
    prodclass=42,
    equipment=["Трубоэлектросварочный стан", "Лаборатория", "Пресс [П-100]"],
    goods=["Трубы электросварные", "Профиль [квадрат]"],
    goods_type=["Трубы и трубки прочие"],
    description_score=0.9,
    okved_score=0.75,
    prodclass_score=0.8,
)


def test_format_answer_writes_the_eight_template_lines() -> None:
    lines = CANONICAL.splitlines()
    assert [line.split("]=[")[0] + "]" for line in lines] == [f"[{tag}]" for tag in TAGS]
    assert [line.split("]=[")[0] for line in TEMPLATE_LINES] == [line.split("]=[")[0] for line in lines]
    assert lines[1] == "[DESCRIPTION_SCORE]=[0.90]"
    assert lines[5] == "[EQUIPMENT_SITE]=[Трубоэлектросварочный стан; Лаборатория; Пресс [П-100]]"
    assert format_answer(description="", prodclass="", equipment=[], goods=[], goods_type=[]).splitlines()[2] == "[OKVED_SCORE]=[]"


def test_parses_the_canonical_answer() -> None:
    answer = parse_answer(CANONICAL)
    assert answer == SiteAnswer(
        description="Завод выпускает стальные трубы [ГОСТ 10704].",
        description_score=0.9,
        okved_score=0.75,
        prodclass_raw="42",
        prodclass_score=0.8,
        equipment=["Трубоэлектросварочный стан", "Пресс [П-100]"],  # the lab is not equipment
        goods=["Трубы электросварные", "Профиль [квадрат]"],
        goods_type=["Трубы и трубки прочие"],
        goods_type_source="GOODS_TYPE",
        sections=answer.sections,
    )
    assert answer.sections["EQUIPMENT_SITE"] == "Трубоэлектросварочный стан; Лаборатория; Пресс [П-100]"
    assert set(answer.sections) == set(TAGS)


def _answer(separator: str = "=", goods: str = "[Трубы; Листы]", **lines: str) -> str:
    values = {"DESCRIPTION": "[Описание]", "PRODCLASS": "[7]", "EQUIPMENT_SITE": "[Станок]",
              "GOODS": goods, "GOODS_TYPE": "[Трубы стальные]", **lines}
    return "\n".join(f"[{tag}]{separator}{value}" for tag, value in values.items())


@pytest.mark.parametrize("separator", ["=", ":", "-", "–", "—", " = ", ": ", " - ", " — ", ":=", ""])
def test_separators(separator: str) -> None:
    answer = parse_answer(_answer(separator))
    assert (answer.description, answer.prodclass_raw, answer.goods) == ("Описание", "7", ["Трубы", "Листы"])


@pytest.mark.parametrize("separator", ["=", ":", "-", "–", "—"])
def test_bare_tags_with_each_separator(separator: str) -> None:
    text = "\n".join(f"{tag} {separator} x{i}" for i, tag in enumerate(REQUIRED_TAGS))
    assert parse_answer(text).goods == ["x3"]


def test_missing_closing_brackets() -> None:
    text = "[DESCRIPTION]=[Описание\n[PRODCLASS]=[7\n[EQUIPMENT_SITE=[Станок\n[GOODS]=[Трубы; Листы\n[GOODS_TYPE]=[Трубы стальные"
    answer = parse_answer(text)
    assert answer.description == "Описание"
    assert answer.prodclass_raw == "7"
    assert answer.equipment == ["Станок"]
    assert answer.goods == ["Трубы", "Листы"]
    assert answer.goods_type == ["Трубы стальные"]


def test_missing_opening_bracket_drops_the_stray_closing_one() -> None:
    assert parse_answer(_answer(goods="Трубы; Листы]")).goods == ["Трубы", "Листы"]


def test_values_over_several_lines() -> None:
    text = _answer(DESCRIPTION="[Компания производит трубы.\nИ ещё листы.]", goods="\n- Трубы\n- Листы\n\n")
    answer = parse_answer(text)
    assert answer.description == "Компания производит трубы.\nИ ещё листы."
    assert answer.goods == ["Трубы", "Листы"]


def test_tags_in_the_middle_of_a_line() -> None:
    text = ("Ответ: [DESCRIPTION]=[Описание] [PRODCLASS]=[7] [EQUIPMENT_SITE]=[Станок]"
            " [GOODS]=[Трубы; Листы] GOODS_TYPE: Трубы стальные")
    answer = parse_answer(text)
    assert (answer.description, answer.prodclass_raw, answer.equipment) == ("Описание", "7", ["Станок"])
    assert (answer.goods, answer.goods_type) == (["Трубы", "Листы"], ["Трубы стальные"])


@pytest.mark.parametrize(
    "template",
    ["**[{tag}]**={value}", "**[{tag}]**: {value}", "**{tag}**: {value}", "**{tag}:** {value}",
     "[**{tag}**]={value}", "- **{tag}** — {value}", "### {tag}: {value}", "{tag}: {value}",
     "{lower}: {value}", "[{lower}]={value}", "1. {tag}: {value}"],
)
def test_markdown_bold_optional_brackets_and_case(template: str) -> None:
    values = {"DESCRIPTION": "Описание", "PRODCLASS": "7", "EQUIPMENT_SITE": "Станок",
              "GOODS": "Трубы; Листы", "GOODS_TYPE": "Трубы стальные"}
    text = "\n".join(template.format(tag=tag, lower=tag.lower(), value=value) for tag, value in values.items())
    answer = parse_answer(text)
    assert (answer.description, answer.prodclass_raw, answer.goods) == ("Описание", "7", ["Трубы", "Листы"])


def test_brackets_inside_values_are_kept() -> None:
    answer = parse_answer(_answer(goods="[Товар [1]; Товар [2]]", DESCRIPTION="[[1] Описание [2]]"))
    assert answer.goods == ["Товар [1]", "Товар [2]"]
    assert answer.description == "[1] Описание [2]"


def test_score_tags_are_optional_and_parsed() -> None:
    answer = parse_answer(_answer(DESCRIPTION_SCORE="[85%]", PRODCLASS_SCORE="0,7"))
    assert (answer.description_score, answer.okved_score, answer.prodclass_score) == (0.85, None, 0.7)


def test_longer_tag_names_are_not_mistaken_for_shorter_ones() -> None:
    answer = parse_answer(_answer(DESCRIPTION_SCORE="[0.5]", PRODCLASS_SCORE="[0.6]"))
    assert (answer.description, answer.prodclass_raw) == ("Описание", "7")
    assert (answer.description_score, answer.prodclass_score) == (0.5, 0.6)


def test_empty_goods_type_falls_back_to_goods() -> None:
    answer = parse_answer(_answer(GOODS_TYPE="[нет]"))
    assert (answer.goods_type, answer.goods_type_source) == (["Трубы", "Листы"], "GOODS")


def test_empty_required_sections_are_accepted() -> None:
    text = "[DESCRIPTION]=[нет]\n[PRODCLASS]=[]\n[EQUIPMENT_SITE]=[]\n[GOODS]=[—]\n[GOODS_TYPE]=[не указано]"
    answer = parse_answer(text)
    assert (answer.description, answer.prodclass_raw, answer.equipment, answer.goods, answer.goods_type) == (
        "", "", [], [], [])
    assert answer.goods_type_source == "GOODS"


def test_first_occurrence_wins_and_code_fences_are_ignored() -> None:
    text = "```text\n" + _answer() + "\n[GOODS]=[Другое]\n```"
    assert parse_answer(text).goods == ["Трубы", "Листы"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty answer"),
        ("   \n", "empty answer"),
        ("Извините, я не могу помочь.", "missing required tags: DESCRIPTION, PRODCLASS, EQUIPMENT_SITE, GOODS, GOODS_TYPE"),
        ("[DESCRIPTION]=[x]\n[PRODCLASS]=[1]\n[GOODS]=[a]", "missing required tags: EQUIPMENT_SITE, GOODS_TYPE"),
        ("Описание компании: goods are pipes", "missing required tags: DESCRIPTION, PRODCLASS, EQUIPMENT_SITE, GOODS, GOODS_TYPE"),
    ],
)
def test_missing_required_tags_are_invalid_model_output(text: str, reason: str) -> None:
    with pytest.raises(AnswerParseError) as caught:
        parse_answer(text)
    error = caught.value
    assert isinstance(error, InvalidModelOutputError)
    assert (error.kind, error.code) == (ErrorKind.UPSTREAM, "invalid_model_output")
    assert error.reason == reason and error.details == {"reason": reason}
    assert error.message == f"unparseable answer: {reason}"


_TAG_PARTS = st.sampled_from(["[", "]", "=", ":", "—", "**", "\n", ";", " ", "*", "- ", "1. ", "```"])
_NOISE = st.one_of(st.sampled_from(TAGS), st.sampled_from([tag.lower() for tag in TAGS]), _TAG_PARTS, st.text(max_size=8))


@given(st.one_of(st.text(), st.lists(_NOISE, max_size=60).map("".join)))
@settings(max_examples=500)
def test_never_raises_anything_but_answer_parse_error(text: str) -> None:
    try:
        answer = parse_answer(text)
    except AnswerParseError as error:
        assert error.reason
    else:
        assert isinstance(answer, SiteAnswer)
        assert answer.goods_type_source in ("GOODS", "GOODS_TYPE")


_LETTERS = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯabcxyzXYZ0123456789"
_WORD = st.text(alphabet=_LETTERS, min_size=1, max_size=10)
_PHRASE = st.lists(st.one_of(_WORD, _WORD.map(lambda word: f"[{word}]"), st.sampled_from(["-", ",", "(x)", "«a»"])),
                   min_size=1, max_size=5).map(" ".join)


def _is_clean_item(item: str) -> bool:
    upper = item.upper()
    return clean_list(item) == [item] and not any(tag in upper for tag in TAGS)


_ITEM = _PHRASE.filter(_is_clean_item)
_ITEMS = st.lists(_ITEM, max_size=6, unique_by=lambda item: item.casefold().replace("ё", "е"))
_SCORE = st.one_of(st.none(), st.integers(0, 100).map(lambda n: n / 100))


@given(
    description=st.one_of(st.just(""), _PHRASE, st.tuples(_PHRASE, _PHRASE).map("\n".join)),
    prodclass=st.one_of(st.integers(1, 110).map(str), _WORD),
    equipment=_ITEMS,
    goods=_ITEMS,
    goods_type=_ITEMS,
    scores=st.tuples(_SCORE, _SCORE, _SCORE),
)
@settings(max_examples=300)
def test_round_trips_what_format_answer_writes(
    description: str, prodclass: str, equipment: list[str], goods: list[str], goods_type: list[str],
    scores: tuple[float | None, float | None, float | None],
) -> None:
    assume(not any(tag in (description + prodclass).upper() for tag in TAGS))
    assume(not is_empty_marker(description) or not description)
    assume(prodclass == prodclass.strip() and description == description.strip())
    text = format_answer(description=description, prodclass=prodclass, equipment=equipment, goods=goods,
                         goods_type=goods_type, description_score=scores[0], okved_score=scores[1],
                         prodclass_score=scores[2])
    answer = parse_answer(text)
    assert answer.description == description
    assert answer.prodclass_raw == prodclass
    assert (answer.description_score, answer.okved_score, answer.prodclass_score) == scores
    assert answer.equipment == [item for item in equipment if not is_non_production_equipment(item)]
    assert answer.goods == goods
    assert answer.goods_type == (goods_type or goods)
    assert answer.goods_type_source == ("GOODS_TYPE" if goods_type else "GOODS")
