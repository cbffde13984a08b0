"""MockChatModel: the chat contract, plus the template answer it builds from the site text."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.chat.mock import NOT_THE_TEMPLATE, MockChatModel
from adapters.chat.mock_answer import best_class, compose_answer, site_text
from application.ports.chat import ChatMessage
from domain.errors import UpstreamTimeoutError, UpstreamUnavailableError
from domain.site.answer import parse_answer
from domain.site.errors import AnswerParseError
from domain.site.prodclass import class_by_id, load_prodclasses
from tests.contracts.chat_contract import SITE_TEXT, ChatModelContract, site_messages


class TestMockChatModel(ChatModelContract):
    @pytest.fixture
    def adapter(self) -> MockChatModel:
        return MockChatModel()

    @pytest.fixture
    def induce(self) -> Callable[[str], list[ChatMessage]]:
        def arrange(fault: str) -> list[ChatMessage]:
            trigger = {"upstream_unavailable": "mock_fail_upstream", "timeout": "mock_fail_timeout"}
            return site_messages(f"{trigger[fault]} {SITE_TEXT}")

        return arrange


def user_message(text: str, **kwargs: str) -> str:
    return site_messages(text, **kwargs)[1].content


def test_site_text_is_found_after_the_class_table() -> None:
    text = "Первый абзац.\nТекст сайта:\nстрока, похожая на маркер"
    assert site_text(user_message(text, company_name="ООО Ромашка")) == text
    assert site_text("SITE_TEXT:\nпросто текст") == "просто текст"
    assert site_text("только текст") == "только текст"


async def test_answer_is_the_template_built_from_the_text() -> None:
    reply = await MockChatModel().complete(site_messages(), model="gpt-4o-mini")
    answer = parse_answer(reply.text)
    assert answer.description.startswith("ООО «Северсталь-Прокат»")
    assert answer.description.endswith("арматуру.")
    assert answer.goods == ["стальной лист", "трубы стальные", "арматуру"]
    assert answer.goods_type == answer.goods
    assert answer.equipment == ["прокатные станы", "оборудование для резки металла", "термические печи"]
    assert int(answer.prodclass_raw) in class_by_id()
    assert answer.prodclass_score == answer.description_score == 0.8
    assert reply.model == "gpt-4o-mini"


def test_prodclass_shares_words_with_the_text() -> None:
    cls = load_prodclasses()[17]
    assert best_class(f"Наше предприятие: {cls.name}.") == cls.id


def test_prodclass_without_shared_words_is_still_a_class_and_stable() -> None:
    first = best_class("zzz qqq")
    assert first in class_by_id()
    assert best_class("zzz qqq") == first


def test_goods_fall_back_to_frequent_words_and_no_equipment_is_nothing() -> None:
    text = "Кирпичи облицовочные. Кирпичи строительные. Доставка кирпичей по области."
    reply = compose_answer(user_message(text))
    answer = parse_answer(reply)
    assert "кирпичи" in answer.goods and "кирпичей" not in answer.goods
    assert "[EQUIPMENT_SITE]=[нет]" in reply and answer.equipment == []


async def test_usage_is_estimated_from_length() -> None:
    messages = site_messages()
    reply = await MockChatModel().complete(messages, model="m")
    assert reply.usage.input_tokens == sum(len(m.content) for m in messages) // 4
    assert reply.usage.output_tokens == len(reply.text) // 4
    assert reply.usage.cached_input_tokens == 0


async def test_fail_answer_is_not_the_template() -> None:
    reply = await MockChatModel().complete(site_messages("mock_fail_answer " + SITE_TEXT), model="m")
    assert reply.text == NOT_THE_TEMPLATE
    with pytest.raises(AnswerParseError):
        parse_answer(reply.text)


@pytest.mark.parametrize(
    ("trigger", "error"),
    [("mock_fail_upstream", UpstreamUnavailableError), ("mock_fail_timeout", UpstreamTimeoutError)],
)
async def test_failures_report_every_attempt(trigger: str, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        await MockChatModel(max_attempts=2).complete(site_messages(trigger), model="m")
    calls = caught.value.details["calls"]  # type: ignore[attr-defined]
    assert len(calls) == 2 and all(c["ok"] is False and c["model"] == "m" for c in calls)


async def test_trigger_inside_the_text_is_ignored() -> None:
    reply = await MockChatModel().complete(site_messages(SITE_TEXT + " mock_fail_upstream"),
                                           model="m")
    assert reply.calls[0].ok


@settings(max_examples=80, deadline=None)
@given(st.text(min_size=1, max_size=400))
def test_any_site_text_gives_a_parseable_answer(text: str) -> None:
    if not text.strip() or text.lstrip().startswith("mock_fail"):
        return
    answer = parse_answer(compose_answer(user_message(text)))
    assert int(answer.prodclass_raw) in class_by_id()
