"""Contract every ``ChatModel`` adapter honours, written once (HOUSE_STYLE: tests/contracts).

Subclasses provide:

* ``adapter`` — the ``ChatModel`` under test;
* ``induce`` — ``Callable[[str], list[ChatMessage]]``: arrange the fault named (one of
  ``FAULTS``) for the next call and return the messages to send (the mock reads triggers from
  the site text, the HTTP server is scripted).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from application.ports.chat import ChatMessage, ChatModel, ChatReply, ModelCall
from domain.errors import DomainError, UpstreamTimeoutError, UpstreamUnavailableError
from domain.site.prodclass import load_prodclasses
from domain.site.prompt import SYSTEM_PROMPT, build_user_prompt

FAULTS = ("upstream_unavailable", "timeout")
MODEL = "gpt-4o"
SITE_TEXT = (
    "ООО «Северсталь-Прокат» — металлургическое предприятие полного цикла. Мы производим "
    "стальной лист, трубы стальные и арматуру. На заводе работают прокатные станы, "
    "оборудование для резки металла и термические печи."
)


def site_messages(text: str = SITE_TEXT, *, company_name: str | None = None) -> list[ChatMessage]:
    """The analyzer's messages (``domain.site.prompt``) for ``text``."""
    classes = [(c.id, c.name) for c in load_prodclasses()]
    user = build_user_prompt(text_par=text, classes=classes, company_name=company_name, okved=None)
    return [ChatMessage("system", SYSTEM_PROMPT), ChatMessage("user", user)]


def calls_of(error: DomainError) -> list[ModelCall]:
    raw = error.details["calls"]
    assert isinstance(raw, list)
    msgspec.json.encode(raw)  # plain data, ready for an error body or an artifact
    return [msgspec.convert(call, ModelCall) for call in raw]


class ChatModelContract:
    async def test_reply_has_text_usage_and_one_call(self, adapter: ChatModel) -> None:
        reply = await adapter.complete(site_messages(), model=MODEL, request_id="req-chat-ok")
        assert isinstance(reply, ChatReply)
        assert isinstance(reply.text, str) and reply.text.strip()
        assert reply.model
        assert reply.usage.input_tokens > 0
        assert reply.usage.output_tokens > 0
        assert 0 <= reply.usage.cached_input_tokens <= reply.usage.input_tokens
        [call] = reply.calls
        assert call.kind == "chat" and call.ok
        assert call.usage == reply.usage
        assert call.model == reply.model

    async def test_same_prompt_same_text(self, adapter: ChatModel) -> None:
        first = await adapter.complete(site_messages(), model=MODEL)
        second = await adapter.complete(site_messages(), model=MODEL)
        assert first.text == second.text

    async def test_upstream_unavailable_is_503_kind_with_calls(
        self, adapter: ChatModel, induce: Callable[[str], list[ChatMessage]]
    ) -> None:
        messages = induce("upstream_unavailable")
        with pytest.raises(UpstreamUnavailableError) as caught:
            await adapter.complete(messages, model=MODEL, request_id="req-chat-503")
        error = caught.value
        assert error.code == "upstream_unavailable"
        assert error.details["retryable"] is True
        calls = calls_of(error)
        assert len(calls) >= 1
        assert all(c.kind == "chat" and not c.ok and c.usage.total == 0 for c in calls)

    async def test_timeout_is_504_kind_with_calls(
        self, adapter: ChatModel, induce: Callable[[str], list[ChatMessage]]
    ) -> None:
        messages = induce("timeout")
        with pytest.raises(UpstreamTimeoutError) as caught:
            await adapter.complete(messages, model=MODEL, request_id="req-chat-504")
        assert caught.value.details["retryable"] is True
        assert calls_of(caught.value)

    async def test_ping(self, adapter: ChatModel) -> None:
        await adapter.ping()
