from __future__ import annotations

from domain.site.answer import TEMPLATE_LINES
from domain.site.prompt import SYSTEM_PROMPT, build_user_prompt, class_table

CLASSES = [(1, "Предприятия по сборке легковых автомобилей"), (42, 'Заводы "Сталь"')]


def _prompt(**overrides: object) -> str:
    arguments = {"text_par": "Мы производим трубы.", "classes": CLASSES, "company_name": "ООО Трубы",
                 "okved": "24.20"}
    return build_user_prompt(**{**arguments, **overrides})


def test_system_prompt_asks_for_the_template_only() -> None:
    assert "шаблон" in SYSTEM_PROMPT.lower() and "без пояснений" in SYSTEM_PROMPT


def test_user_prompt_holds_instructions_template_table_and_text_in_order() -> None:
    prompt = _prompt()
    template = "\n".join(TEMPLATE_LINES)
    assert template in prompt
    positions = [prompt.index("Правила:"), prompt.index(template), prompt.index("IB_PRODCLASS = {"),
                 prompt.index("Мы производим трубы.")]
    assert positions == sorted(positions)
    assert prompt.endswith("Мы производим трубы.")
    assert "Компания: ООО Трубы" in prompt and "ОКВЭД: 24.20" in prompt


def test_instructions() -> None:
    prompt = _prompt()
    assert "на русском языке" in prompt
    assert "от 0.00 до 1.00" in prompt
    assert "числовой идентификатор (id)" in prompt
    assert '"; "' in prompt
    assert "ТН ВЭД" in prompt
    assert 'пиши "нет"' in prompt


def test_class_table() -> None:
    assert class_table(CLASSES) == (
        'IB_PRODCLASS = {\n1:"Предприятия по сборке легковых автомобилей"\n42:"Заводы \\"Сталь\\""\n}'
    )
    assert class_table(CLASSES) in _prompt()


def test_company_and_okved_are_optional() -> None:
    prompt = _prompt(company_name=None, okved="  ")
    assert "Компания:" not in prompt and "ОКВЭД:" not in prompt
