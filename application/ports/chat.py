"""Chat model port for site analysis (SPEC §9): OpenAI-compatible chat completions."""

from __future__ import annotations

from typing import Protocol

import msgspec


class ChatMessage(msgspec.Struct, frozen=True):
    role: str  # system | user | assistant
    content: str


class TokenUsage(msgspec.Struct, frozen=True, kw_only=True):
    input_tokens: int = 0
    cached_input_tokens: int = 0  # from usage.prompt_tokens_details.cached_tokens
    output_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


class ModelCall(msgspec.Struct, frozen=True, kw_only=True):
    """One HTTP call to a model, successful or not, for the request's cost breakdown."""

    kind: str  # chat | embeddings
    model: str
    usage: TokenUsage
    ok: bool


class ChatReply(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    model: str  # the model the server says answered (may be a dated name)
    usage: TokenUsage
    calls: tuple[ModelCall, ...] = ()  # every attempt, failed ones included


class ChatModel(Protocol):
    """Errors: ``UpstreamError`` (502), ``UpstreamTimeoutError`` (504), ``UpstreamUnavailableError``
    (503), all with ``details.retryable`` and ``details.calls`` (the attempts made)."""

    async def complete(self, messages: list[ChatMessage], *, model: str, request_id: str | None = None) -> ChatReply:
        ...

    async def ping(self) -> None: ...
