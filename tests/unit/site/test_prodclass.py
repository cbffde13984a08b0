"""The packaged production-class table and name normalisation (SPEC §9.3)."""

from __future__ import annotations

import pytest

from domain.site.prodclass import ProdClass, class_by_id, load_prodclasses, normalize_name


def test_the_table_holds_110_classes_in_ascending_id_order() -> None:
    classes = load_prodclasses()
    assert len(classes) == 110
    assert [c.id for c in classes] == list(range(1, 111))
    assert all(isinstance(c, ProdClass) and c.name.strip() == c.name and c.name for c in classes)


def test_known_rows_are_read_exactly() -> None:
    by_id = class_by_id()
    assert by_id[1].name == "Предприятия по сборке легковых автомобилей"
    assert by_id[25].name == "Мебельные производственные предприятия"
    assert by_id[110].name == "Предприятия электромашиностроения и производства силовых трансформаторов"


def test_the_table_is_read_once() -> None:
    assert load_prodclasses() is load_prodclasses()
    assert class_by_id() is class_by_id()


def test_classes_are_frozen_values() -> None:
    with pytest.raises(AttributeError):
        load_prodclasses()[0].name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ёлочные  Игрушки", "елочные игрушки"),
        ("«Мебельные» \"производственные\"\tпредприятия!", "мебельные производственные предприятия"),
        ("ПЭТ-преформ", "пэт преформ"),
        ("  (коробки передач и мосты)  ", "коробки передач и мосты"),
        ("n/a", "n a"),
        ("", ""),
        ("Сталь 3", "сталь 3"),
    ],
)
def test_normalize_name(text: str, expected: str) -> None:
    assert normalize_name(text) == expected


def test_normalised_class_names_are_distinct() -> None:
    names = [normalize_name(c.name) for c in load_prodclasses()]
    assert len(set(names)) == len(names)
