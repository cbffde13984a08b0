"""Deterministic ``Embedder`` without network (SPEC §9.6, ADR 0071).

Each text becomes hashed character 3-grams of its folded words (lower case, «ё» → «е», words
padded with spaces), each 3-gram adding ±1 to one of ``dim`` buckets (blake2b: bucket and
sign), L2-normalised. Texts that share spelling share buckets, so «стальной лист» is closer to
«лист стальной горячекатаный» than to «пластиковые трубы», and catalog matching behaves.

The dimension is ``dim`` (128, ADR 0074: every vector appears up to five times in an analyze
response, and 256 made one sentence a 116 KB answer for no better matching), or the number in
a model name ``mock-<n>`` (8…4096), so tests can ask for small vectors. Token usage is estimated at 4 characters a token. A text
starting with ``mock_fail_upstream`` fails like the upstream would (503, retryable).
"""

from __future__ import annotations

import functools
import hashlib
import math
import re

import msgspec

from application.ports.chat import ModelCall, TokenUsage
from application.ports.embeddings import Embeddings
from domain.errors import UpstreamUnavailableError

_WORD = re.compile(r"[^\W_]+")
_MOCK_DIM = re.compile(r"^mock[-_:]?(\d+)$", re.IGNORECASE)
MIN_DIM, MAX_DIM = 8, 4096


@functools.lru_cache(maxsize=65_536)
def _slot(gram: str, dim: int) -> tuple[int, float]:
    value = int.from_bytes(hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest(), "big")
    return value % dim, 1.0 if (value >> 63) & 1 else -1.0


def hashed_vector(text: str, dim: int) -> list[float]:
    folded = text.casefold().replace("ё", "е")
    vector = [0.0] * dim
    for word in _WORD.findall(folded) or ["\u2205"]:  # an empty text still gets a unit vector
        padded = f" {word} "
        for i in range(max(1, len(padded) - 2)):
            bucket, sign = _slot(padded[i : i + 3], dim)
            vector[bucket] += sign
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:  # signs cancelled out exactly
        vector[_slot(folded, dim)[0]] = norm = 1.0
    return [x / norm for x in vector]


class MockEmbedder:
    def __init__(self, dim: int = 128, *, max_attempts: int = 3) -> None:
        self._dim = dim
        self._max_attempts = max(1, max_attempts)

    def dim_for(self, model: str) -> int:
        match = _MOCK_DIM.match(model.strip())
        return max(MIN_DIM, min(MAX_DIM, int(match.group(1)))) if match else self._dim

    async def embed(
        self, texts: list[str], *, model: str, request_id: str | None = None
    ) -> Embeddings:
        if any(text.startswith("mock_fail_upstream") for text in texts):
            failed = ModelCall(kind="embeddings", model=model, usage=TokenUsage(), ok=False)
            failures = [msgspec.to_builtins(failed)] * self._max_attempts
            raise UpstreamUnavailableError(
                "HTTP 503: mock embeddings unavailable",
                details={"retryable": True, "attempts": len(failures), "calls": failures},
            )
        dim = self.dim_for(model)
        tokens = sum(max(1, len(text) // 4) for text in texts)
        calls: tuple[ModelCall, ...] = ()
        if texts:
            usage = TokenUsage(input_tokens=tokens)
            calls = (ModelCall(kind="embeddings", model=model, usage=usage, ok=True),)
        return Embeddings(
            vectors=[hashed_vector(text, dim) for text in texts],
            model=model,
            input_tokens=tokens if texts else 0,
            calls=calls,
        )
