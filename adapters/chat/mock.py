"""Deterministic ``ChatModel`` without network (SPEC §9.6, ADR 0071).

It answers the SPEC §9.2 template from the site text in the last user message
(``adapters.chat.mock_answer``). Token usage is estimated at 4 characters a token so costs
are non-zero. A site text starting with a trigger drives the failure paths:

* ``mock_fail_upstream`` — ``UpstreamUnavailableError`` (retryable) after ``max_attempts``
  failed calls, as the OpenAI adapter would report it;
* ``mock_fail_timeout``  — ``UpstreamTimeoutError`` (retryable), likewise;
* ``mock_fail_answer``   — an answer that is not the template (the parser then fails).
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from adapters.chat.mock_answer import compose_answer, site_text
from application.ports.chat import ChatMessage, ChatReply, ModelCall, TokenUsage
from domain.errors import DomainError, UpstreamTimeoutError, UpstreamUnavailableError

logger = logging.getLogger("ocr.site")

NOT_THE_TEMPLATE = "Извините, я не могу описать эту компанию по тексту сайта."
_FAILURES: dict[str, tuple[type[DomainError], str]] = {
    "mock_fail_upstream": (UpstreamUnavailableError, "HTTP 503: mock upstream unavailable"),
    "mock_fail_timeout": (UpstreamTimeoutError, "ReadTimeout: mock upstream timed out"),
}


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class MockChatModel:
    def __init__(self, *, max_attempts: int = 3) -> None:
        self._max_attempts = max(1, max_attempts)

    async def complete(
        self, messages: list[ChatMessage], *, model: str, request_id: str | None = None
    ) -> ChatReply:
        users = [m.content for m in messages if m.role == "user"]
        message = users[-1] if users else ""
        text = site_text(message)
        log = {"model": model, "request_id": request_id, "backend": "mock"}
        logger.info("chat call", extra={"event": "chat_call_start", **log})
        for trigger, (error, reason) in _FAILURES.items():
            if text.startswith(trigger):
                failed = ModelCall(kind="chat", model=model, usage=TokenUsage(), ok=False)
                calls = [msgspec.to_builtins(failed)] * self._max_attempts
                logger.warning("chat call failed", extra={"event": "chat_call_error", **log,
                                                          "code": error.code})
                raise error(reason, details={"retryable": True, "attempts": len(calls),
                                             "calls": calls})
        # Text processing off the event loop: one long site text must not stall other requests.
        answer = NOT_THE_TEMPLATE if text.startswith("mock_fail_answer") else await asyncio.to_thread(
            compose_answer, message)
        usage = TokenUsage(
            input_tokens=estimate_tokens("".join(m.content for m in messages)),
            output_tokens=estimate_tokens(answer),
        )
        call = ModelCall(kind="chat", model=model, usage=usage, ok=True)
        logger.info("chat call done", extra={"event": "chat_call_end", **log})
        return ChatReply(text=answer, model=model, usage=usage, calls=(call,))

    async def ping(self) -> None:
        return None
