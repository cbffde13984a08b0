"""The mock chat's answer rules (ADR 0074): goods and equipment are noun phrases after cues,
never verbs or common words, and the production class shares stems with what the text says."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.chat.mock_answer import best_class, compose_answer
from adapters.chat.mock_phrases import MAX_ITEMS, goods_and_equipment, is_verb
from domain.site.answer import parse_answer
from domain.site.prodclass import class_by_id, load_prodclasses
from domain.site.prompt import build_user_prompt

PIPE_PLANT = "Завод выпускает стальные трубы и арматуру. Оборудование: трубосварочный стан."
STEEL_FOUNDRY_CLASS = 31  # «Литейные предприятия чёрных металлов (чугун и сталь)»
CAR_BODY_STAMPING_CLASS = 5


def answer_for(text: str):  # type: ignore[no-untyped-def]
    classes = [(c.id, c.name) for c in load_prodclasses()]
    return parse_answer(compose_answer(build_user_prompt(text_par=text, classes=classes,
                                                         company_name=None, okved=None)))


def test_pipe_plant_gets_its_goods_equipment_and_a_steel_class() -> None:
    answer = answer_for(PIPE_PLANT)
    assert answer.goods == ["стальные трубы", "арматуру"]
    assert answer.equipment == ["трубосварочный стан"]
    assert int(answer.prodclass_raw) == STEEL_FOUNDRY_CLASS != CAR_BODY_STAMPING_CLASS


@pytest.mark.parametrize(
    ("text", "goods", "equipment"),
    [
        ("Мы производим хлеб, батоны и торты. В цехе работают ротационные печи.",
         ["хлеб", "батоны", "торты"], ["ротационные печи"]),
        ("Продукция завода: краски, лаки. Станочный парк: фрезерные станки с ЧПУ, прессы.",
         ["краски", "лаки"], ["фрезерные станки с ЧПУ", "прессы"]),
        ("Компания поставляет насосы, которые используются в нефтянке.", ["насосы"], []),
        ("Оборудование — линия розлива и выдувной автомат.", [], ["линия розлива", "выдувной автомат"]),
    ],
)
def test_phrases_follow_cues_without_verbs(text: str, goods: list[str], equipment: list[str]) -> None:
    assert goods_and_equipment(text) == (goods, equipment)


@pytest.mark.parametrize("word", ["выпускает", "производит", "работают", "используются", "делать"])
def test_verbs_are_recognised(word: str) -> None:
    assert is_verb(word)


@pytest.mark.parametrize("word", ["трубы", "стан", "печать", "сеть", "арматуру", "станки"])
def test_nouns_are_not_verbs(word: str) -> None:
    assert not is_verb(word)


def test_goods_stems_decide_between_classes_sharing_text_stems() -> None:
    # «трубосварочный» shares «трубо» with the pipeline operators' class; the steel goods win.
    assert best_class("Трубосварочный цех. Сталь.", goods=["стальные трубы"]) == STEEL_FOUNDRY_CLASS


def test_generic_words_do_not_pick_a_class() -> None:
    # «Заводы» appears in many class names (the first: car-body stamping); it must not choose one.
    assert best_class("Завод выпускает мебель.", goods=["мебель"]) == 25
    assert best_class("Хлебозавод: хлебопечение.") == 61


def test_no_equipment_is_written_as_nothing() -> None:
    assert answer_for("Мы производим мебель.").equipment == []


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="абвгдеёжзийклмнопрстуфхцчшщыьэюя ,.:—-\n", max_size=300))
def test_items_are_never_verbs_and_never_too_many(text: str) -> None:
    goods, equipment = goods_and_equipment(text)
    assert len(goods) <= MAX_ITEMS and len(equipment) <= MAX_ITEMS
    for item in goods + equipment:
        assert item and not any(is_verb(word) for word in item.split())
    assert goods_and_equipment(text) == (goods, equipment)
    assert int(best_class(text)) in class_by_id()
