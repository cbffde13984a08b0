"""Embeddings port for site analysis (SPEC §9.3, §9.4)."""

from __future__ import annotations

from typing import Protocol

import msgspec

from application.ports.chat import ModelCall


class Embeddings(msgspec.Struct, frozen=True, kw_only=True):
    vectors: list[list[float]]  # one per input text, in order
    model: str
    input_tokens: int
    calls: tuple[ModelCall, ...] = ()


class Embedder(Protocol):
    """Batched: one call (or a few, for very long lists) embeds every text. Errors as ChatModel."""

    async def embed(self, texts: list[str], *, model: str, request_id: str | None = None) -> Embeddings: ...
