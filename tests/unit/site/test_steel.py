from __future__ import annotations

import pytest

from domain.site.steel import STEEL_CANONICAL, is_metallurgical, mentions_steel, refine_goods

NONE = {"company_name": None, "okved": None, "description": None, "text": None}


def test_five_canonical_headings() -> None:
    assert len(STEEL_CANONICAL) == 5 and len(set(STEEL_CANONICAL)) == 5


@pytest.mark.parametrize("okved", ["24.10", "24.1", "24.10.1", "25.11, 24.10", "24.13"])
def test_metallurgical_okved(okved: str) -> None:
    assert is_metallurgical(None, okved, None, None)


@pytest.mark.parametrize("okved", ["24.20", "124.10", "24.2", "25.11", "42.10", "2410"])
def test_other_okved(okved: str) -> None:
    assert not is_metallurgical(None, okved, None, None)


@pytest.mark.parametrize(
    ("company_name", "description", "text"),
    [
        ("ПАО «Новолипецкий металлургический комбинат»", None, None),
        ("ПАО «Северсталь»", None, None),
        (None, "Крупное предприятие чёрной металлургии", None),
        (None, None, "В электросталеплавильном цехе работает дуговая печь"),
        (None, None, "Запущен новый прокатный стан 2000"),
        (None, "Металлургия полного цикла", None),
        (None, None, "The largest steel mill in the region"),
    ],
)
def test_metallurgy_markers(company_name: str | None, description: str | None, text: str | None) -> None:
    assert is_metallurgical(company_name, None, description, text)


@pytest.mark.parametrize(
    "text",
    ["Мы стали лидером рынка пластиковых труб", "Поставляем оборудование для металлургии",
     "Поставки для металлургических предприятий", "Прокат автомобилей и спецтехники",
     "Металлургов улица, дом 5", ""],
)
def test_not_metallurgical(text: str) -> None:
    assert not is_metallurgical("ООО «Ромашка»", "22.21", text, text)


@pytest.mark.parametrize(
    "item",
    ["Лист стальной", "Сталь листовая", "Трубы стальные", "Листовой прокат", "Прокат", "прокат стальной",
     "Сортовой прокат", "Металлопрокат", "Трубы из нержавеющей стали", "Изделия из стали",
     "Круг из стали 40Х", "Изделия из легированной стали", "стали марки 09Г2С", "Швеллер 10П",
     "Балка двутавровая", "Арматура А500С", "Катанка", "Слябы", "Штрипс", "Rolled steel", "Рулонная сталь"],
)
def test_steel_goods(item: str) -> None:
    assert mentions_steel(["Трубы ПНД", item])


@pytest.mark.parametrize(
    "item",
    ["Мы стали лидером в производстве пластиковых труб", "Они стали партнёрами", "Прокат автомобилей",
     "прокат оборудования", "Прокат и аренда инструмента", "Запорная арматура", "Арматура трубопроводная",
     "Трубы ПНД", "Стальмонтаж", "Пластиковые окна"],
)
def test_not_steel_goods(item: str) -> None:
    assert not mentions_steel([item])


def test_metallurgical_steel_goods_get_the_canonical_headings_first() -> None:
    goods = ["Лист стальной", "Прокат плоский из легированной стали", "Швеллер"]
    refined = refine_goods(goods, **{**NONE, "okved": "24.10"})
    assert refined == [*STEEL_CANONICAL, "Лист стальной", "Швеллер"]


def test_canonical_duplicates_are_removed_case_insensitively() -> None:
    goods = ["прокат плоский из железа или нелегированной стали", "Арматура"]
    assert refine_goods(goods, **{**NONE, "company_name": "Металлургический завод"}) == [*STEEL_CANONICAL, "Арматура"]


def test_plastic_pipes_with_the_verb_stali_are_unchanged() -> None:
    goods = ["Мы стали лидером в производстве пластиковых труб", "Трубы ПНД"]
    assert refine_goods(goods, **{**NONE, "okved": "24.10"}) == goods


def test_rental_is_unchanged() -> None:
    goods = ["Прокат автомобилей", "Прокат оборудования"]
    assert refine_goods(goods, **{**NONE, "okved": "24.10", "text": "металлургия"}) == goods


def test_steel_goods_outside_metallurgy_are_unchanged() -> None:
    goods = ["Лист стальной"]
    refined = refine_goods(goods, company_name="ООО Стройторг", okved="46.72", description="Торговля", text="")
    assert refined == goods and refined is not goods
