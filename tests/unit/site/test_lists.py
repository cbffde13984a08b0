from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.site.lists import (
    EMPTY_MARKERS,
    clean_list,
    filter_equipment,
    is_empty_marker,
    is_non_production_equipment,
)
from domain.site.text import fold


@pytest.mark.parametrize(
    "text",
    ["нет", "Нет.", "НЕТ ДАННЫХ", "не указано", "Отсутствует", "none", "N/A", "-", "—", "–",
     "null", "не найдено", "нет информации", "(нет)", "«нет»", " n/a; ", "", "   ", "...", "—-"],
)
def test_empty_markers(text: str) -> None:
    assert is_empty_marker(text)


@pytest.mark.parametrize("text", ["Трубы", "Нетканые материалы", "нет-нет", "Ноутбук", "N95"])
def test_items_are_not_empty_markers(text: str) -> None:
    assert not is_empty_marker(text)


def test_every_listed_marker_is_recognised() -> None:
    assert all(is_empty_marker(marker) and is_empty_marker(marker.upper() + ".") for marker in EMPTY_MARKERS)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Трубы; Листы", ["Трубы", "Листы"]),
        ("Трубы\nЛисты\r\nУголок", ["Трубы", "Листы", "Уголок"]),
        ("- Трубы\n* Листы\n• Арматура\n· Балка\n— Уголок", ["Трубы", "Листы", "Арматура", "Балка", "Уголок"]),
        ("1. Трубы\n2) Листы\n3.Уголок", ["Трубы", "Листы", "Уголок"]),
        ("1.5 мм лист; 3D-принтер; -20 °C камера", ["1.5 мм лист", "3D-принтер", "-20 °C камера"]),
        ("«Трубы»; \"Листы\"; 'Уголок'", ["Трубы", "Листы", "Уголок"]),
        ("ООО «Ромашка» продукция", ["ООО «Ромашка» продукция"]),
        ("**Трубы**; * **Листы**", ["Трубы", "Листы"]),
        ("Товар [1]; [Листы]", ["Товар [1]", "Листы"]),
        ("Трубы.; Листы,", ["Трубы", "Листы"]),
        ("Трубы стальные, оцинкованные", ["Трубы стальные, оцинкованные"]),
        ("нет; Трубы; не указано; N/A; —", ["Трубы"]),
        ("Трубы; ТРУБЫ; трубы ; Листы; листы", ["Трубы", "Листы"]),
        ("Ёлки; елки", ["Ёлки"]),
        ("", []),
        ("нет", []),
        (";;\n\n ; ", []),
    ],
)
def test_clean_list(raw: str, expected: list[str]) -> None:
    assert clean_list(raw) == expected


@given(st.text())
def test_clean_list_items_are_clean_distinct_and_not_markers(raw: str) -> None:
    items = clean_list(raw)
    assert len({fold(item) for item in items}) == len(items)
    for item in items:
        assert item == item.strip() and item and ";" not in item and "\n" not in item
        assert not is_empty_marker(item)


@pytest.mark.parametrize(
    "item",
    [
        "Лаборатория", "Испытательная лаборатория", "Центральная заводская лаборатория",
        "Наша лаборатория", "Лаборатории", "Лаборатория неразрушающего контроля",
        "CRM-система", "CRM", "Система CRM", "ERP", "ERP-система", "1С:ERP",
        "Цифровая платформа", "Цифровая платформа управления производством",
        "Корпоративный сайт", "Сайт компании", "Веб-сайт", "Интернет-портал", "Портал поставщиков",
        "Личный кабинет клиента", "Информационная система управления производством",
        "Центр компетенций по сварке",
        "Testing laboratory", "Laboratory of metrology", "Lab", "Customer portal",
        "Digital platform", "Website", "Web site", "Personal account", "Information system",
        "Competence center", "Centre of excellence",
    ],
)
def test_non_production_things_are_dropped(item: str) -> None:
    assert is_non_production_equipment(item)


@pytest.mark.parametrize(
    "item",
    [
        "Оборудование для лаборатории",  # equipment for a lab: a preposition comes first
        "Оборудование лаборатории",  # a noun comes first
        "Пресс гидравлический для испытательной лаборатории",
        "Лабораторный пресс",  # another word: whole-word matching
        "Печь лабораторная",
        "Станок для сайта",
        "Платформа подъёмная",  # a lifting platform, not a digital one
        "Гидравлическая платформа",
        "Laboratory equipment",  # English head is last
        "Lab furnace",
        "Equipment for laboratory",
        "Токарный станок с ЧПУ",
        "Внедрение ERP",
    ],
)
def test_equipment_that_merely_mentions_them_is_kept(item: str) -> None:
    assert not is_non_production_equipment(item)


def test_filter_equipment_keeps_order() -> None:
    items = ["Станок", "Лаборатория", "Пресс", "CRM-система", "Оборудование для лаборатории"]
    assert filter_equipment(items) == ["Станок", "Пресс", "Оборудование для лаборатории"]


@given(st.text(max_size=2000))
def test_equipment_filter_never_raises(item: str) -> None:
    assert isinstance(is_non_production_equipment(item), bool)
