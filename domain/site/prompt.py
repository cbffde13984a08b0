"""The chat prompt for site analysis (SPEC §9.2).

The system message asks for the template and nothing else; the user message
holds the instructions, the eight template lines, the production-class table
(``IB_PRODCLASS = {`` / ``<id>:"<name>"`` per line / ``}``) and the site text.
"""

from __future__ import annotations

from domain.site.answer import TEMPLATE_LINES

SYSTEM_PROMPT = (
    "Ты — аналитик промышленных предприятий. Отвечай строго по шаблону из восьми строк "
    "вида [ТЕГ]=[значение], по одному тегу на строке, без пояснений, без markdown и без "
    "текста до или после шаблона."
)

_INSTRUCTIONS = (
    "Проанализируй текст сайта компании и заполни шаблон ниже.",
    "Правила:",
    "1. DESCRIPTION — краткое описание деятельности компании на русском языке "
    "(2–4 предложения): что производит, какие услуги оказывает.",
    "2. DESCRIPTION_SCORE, OKVED_SCORE, PRODCLASS_SCORE — числа от 0.00 до 1.00 с двумя "
    "знаками после точки: уверенность в описании, соответствие сайта указанному ОКВЭД "
    "(если ОКВЭД не указан — оставь пустым), уверенность в выборе класса.",
    "3. PRODCLASS — числовой идентификатор (id) производственного класса из таблицы "
    "IB_PRODCLASS, ровно одно число, без названия.",
    "4. EQUIPMENT_SITE — производственное оборудование, упомянутое на сайте (станки, линии, "
    "печи, прессы и т. п.); не включай сайты, порталы, цифровые платформы, информационные "
    "системы, ERP/CRM, лаборатории и центры компетенций.",
    "5. GOODS — продукция и услуги компании.",
    "6. GOODS_TYPE — наименования товарных позиций ТН ВЭД, к которым относится продукция.",
    '7. Элементы списков разделяй точкой с запятой и пробелом ("; ").',
    '8. Если сведений нет, пиши "нет". Не придумывай того, чего нет в тексте.',
)


def build_user_prompt(
    *,
    text_par: str,
    classes: list[tuple[int, str]],
    company_name: str | None,
    okved: str | None,
) -> str:
    """Instructions, template, class table and site text, as one user message."""
    company = [f"Компания: {company_name.strip()}"] if company_name and company_name.strip() else []
    activity = [f"ОКВЭД: {okved.strip()}"] if okved and okved.strip() else []
    return "\n".join(
        [
            *_INSTRUCTIONS,
            "",
            "Шаблон ответа:",
            *TEMPLATE_LINES,
            "",
            class_table(classes),
            "",
            *company,
            *activity,
            "Текст сайта:",
            text_par.strip(),
        ]
    )


def class_table(classes: list[tuple[int, str]]) -> str:
    """``IB_PRODCLASS = {`` then ``<id>:"<name>"`` per line, then ``}``."""
    rows = (f'{class_id}:"{_quoted(name)}"' for class_id, name in classes)
    return "\n".join(["IB_PRODCLASS = {", *rows, "}"])


def _quoted(name: str) -> str:
    return " ".join(name.split()).replace("\\", "\\\\").replace('"', '\\"')
