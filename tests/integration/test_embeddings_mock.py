"""MockEmbedder: the embedder contract, plus the similarity the mock promises (SPEC §9.6)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.embeddings.mock import MockEmbedder, hashed_vector
from domain.errors import UpstreamUnavailableError
from tests.contracts.embedder_contract import EmbedderContract


class TestMockEmbedder(EmbedderContract):
    @pytest.fixture
    def adapter(self) -> MockEmbedder:
        return MockEmbedder()

    @pytest.fixture
    def induce(self) -> Callable[[str], list[str]]:
        def arrange(fault: str) -> list[str]:
            assert fault == "upstream_unavailable"
            return ["стальной лист", "mock_fail_upstream please"]

        return arrange


def cosine(a: str, b: str, dim: int = 256) -> float:
    return float(np.dot(hashed_vector(a, dim), hashed_vector(b, dim)))


def test_similar_texts_are_closer() -> None:
    assert cosine("стальной лист", "лист стальной горячекатаный") > cosine(
        "стальной лист", "пластиковые трубы"
    )
    assert cosine("Трубы стальные", "трубы стальные") == pytest.approx(1.0)
    assert cosine("ёлочные игрушки", "елочные игрушки") == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_unit_length_and_deterministic(text: str) -> None:
    vector = hashed_vector(text, 64)
    assert len(vector) == 64
    assert np.linalg.norm(vector) == pytest.approx(1.0)
    assert vector == hashed_vector(text, 64)


async def test_dimension_from_mock_model_name() -> None:
    embedder = MockEmbedder(dim=32)
    assert len((await embedder.embed(["x"], model="text-embedding-3-large")).vectors[0]) == 32
    assert len((await embedder.embed(["x"], model="mock-64")).vectors[0]) == 64
    assert len((await embedder.embed(["x"], model="mock-1")).vectors[0]) == 8


async def test_usage_estimated_from_length() -> None:
    result = await MockEmbedder().embed(["a" * 40, "b"], model="mock")
    assert result.input_tokens == 11
    assert result.model == "mock"
    [call] = result.calls
    assert call.usage.input_tokens == 11


async def test_failure_carries_attempts() -> None:
    with pytest.raises(UpstreamUnavailableError) as caught:
        await MockEmbedder(max_attempts=2).embed(["mock_fail_upstream"], model="m")
    assert len(caught.value.details["calls"]) == 2
