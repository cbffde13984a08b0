"""Contract every ``Embedder`` adapter honours, written once (HOUSE_STYLE: tests/contracts).

Subclasses provide:

* ``adapter`` — the ``Embedder`` under test;
* ``induce`` — ``Callable[[str], list[str]]``: arrange the fault named (``"upstream_unavailable"``)
  for the next call and return the texts to embed.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import numpy as np
import pytest

from application.ports.chat import ModelCall
from application.ports.embeddings import Embedder, Embeddings
from domain.errors import UpstreamUnavailableError

MODEL = "text-embedding-3-small"
TEXTS = ["стальной лист", "трубы стальные", "пластиковые трубы", "хлеб и выпечка"]


class EmbedderContract:
    async def test_one_vector_per_text_in_order(self, adapter: Embedder) -> None:
        result = await adapter.embed(TEXTS, model=MODEL, request_id="req-embed-ok")
        assert isinstance(result, Embeddings)
        assert len(result.vectors) == len(TEXTS)
        dims = {len(v) for v in result.vectors}
        assert len(dims) == 1 and dims.pop() > 0
        assert all(isinstance(x, float) for v in result.vectors for x in v)
        reversed_result = await adapter.embed(TEXTS[::-1], model=MODEL)
        for text, vector in zip(TEXTS, result.vectors, strict=True):
            again = reversed_result.vectors[TEXTS[::-1].index(text)]
            assert np.allclose(vector, again)

    async def test_distinct_texts_distinct_vectors(self, adapter: Embedder) -> None:
        vectors = (await adapter.embed(TEXTS, model=MODEL)).vectors
        assert len({tuple(np.round(v, 6)) for v in vectors}) == len(TEXTS)

    async def test_usage_and_calls(self, adapter: Embedder) -> None:
        result = await adapter.embed(TEXTS, model=MODEL)
        assert result.model
        assert result.input_tokens > 0
        assert result.calls
        assert all(c.kind == "embeddings" and c.ok for c in result.calls)
        assert sum(c.usage.input_tokens for c in result.calls) == result.input_tokens

    async def test_many_texts(self, adapter: Embedder) -> None:
        texts = [f"позиция каталога номер {i}" for i in range(300)]
        result = await adapter.embed(texts, model=MODEL)
        assert len(result.vectors) == 300
        single = await adapter.embed([texts[123]], model=MODEL)
        assert np.allclose(result.vectors[123], single.vectors[0])

    async def test_nothing_to_embed(self, adapter: Embedder) -> None:
        result = await adapter.embed([], model=MODEL)
        assert result.vectors == []
        assert result.input_tokens == 0

    async def test_upstream_unavailable_is_503_kind_with_calls(
        self, adapter: Embedder, induce: Callable[[str], list[str]]
    ) -> None:
        texts = induce("upstream_unavailable")
        with pytest.raises(UpstreamUnavailableError) as caught:
            await adapter.embed(texts, model=MODEL, request_id="req-embed-503")
        details = caught.value.details
        assert details["retryable"] is True
        calls = [msgspec.convert(c, ModelCall) for c in details["calls"]]
        assert calls and all(c.kind == "embeddings" and not c.ok for c in calls)
