"""Embedding with a per-model cache for texts that repeat across requests (class names,
catalog names), and a record of every call for the request's cost."""

from __future__ import annotations

from collections import OrderedDict

import msgspec
import numpy as np

from application.ports.chat import ModelCall
from application.ports.embeddings import Embedder

MAX_CACHED_TEXTS = 200_000


class EmbeddingCache:
    def __init__(self, embedder: Embedder, max_texts: int = MAX_CACHED_TEXTS) -> None:
        self._embedder = embedder
        self._max = max_texts
        self._vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()

    async def cached(self, texts: list[str], *, model: str, calls: list[ModelCall],
                     request_id: str | None) -> np.ndarray:
        """Vectors for ``texts`` (rows in order); only texts not seen before for ``model`` are sent."""
        missing = list(dict.fromkeys(t for t in texts if (model, t) not in self._vectors))
        if missing:
            fresh = await self.embed(missing, model=model, calls=calls, request_id=request_id)
            for text, vector in zip(missing, fresh, strict=True):
                self._vectors[(model, text)] = vector
            while len(self._vectors) > self._max:
                self._vectors.popitem(last=False)
        return np.stack([self._vectors[(model, t)] for t in texts]) if texts else np.zeros((0, 0), np.float32)

    async def embed(self, texts: list[str], *, model: str, calls: list[ModelCall],
                    request_id: str | None) -> np.ndarray:
        """One batched call for ``texts``, not cached (the item's own vector)."""
        if not texts:
            return np.zeros((0, 0), np.float32)
        try:
            result = await self._embedder.embed(texts, model=model, request_id=request_id)
        except Exception as exc:
            # The attempts move into the request's cost, as the chat call's do; the error
            # details keep only what the caller needs (retryable, http_status, attempts).
            calls.extend(msgspec.convert(c, ModelCall) if isinstance(c, dict) else c
                         for c in getattr(exc, "details", {}).pop("calls", []))
            raise
        calls.extend(result.calls or ())
        return np.asarray(result.vectors, dtype=np.float32)
