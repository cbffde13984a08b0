"""Authenticate an API key into a Principal (SPEC §5).

Successful lookups are cached for a few seconds (revocation takes effect within that
window) and ``last_used_at`` is written at most once a minute per key, so a request
costs no database write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from application.ports.api_keys import ApiKeyStore
from domain.auth import ANONYMOUS, Principal, hash_api_key
from domain.errors import DomainError, UnauthenticatedError

logger = logging.getLogger("ocr.auth")

CACHE_TTL_S = 5.0
TOUCH_INTERVAL_S = 60.0


class Authenticator:
    def __init__(
        self,
        store: ApiKeyStore,
        pepper: bytes,
        *,
        enabled: bool = True,
        cache_ttl_s: float = CACHE_TTL_S,
        touch_interval_s: float = TOUCH_INTERVAL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._pepper = pepper
        self._enabled = enabled
        self._cache_ttl_s = cache_ttl_s
        self._touch_interval_s = touch_interval_s
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._last_touch: dict[str, float] = {}

    @property
    def enabled(self) -> bool:
        return self._enabled

    async def authenticate(self, api_key: str | None) -> Principal:
        if not self._enabled:
            return ANONYMOUS
        if not api_key:
            raise UnauthenticatedError("an API key is required", code="auth_missing")
        key_hash = hash_api_key(api_key, self._pepper)
        now = self._monotonic()
        cached = self._cache.get(key_hash)
        if cached and now - cached[0] < self._cache_ttl_s:
            principal = cached[1]
        else:
            record = await self._store.find_by_hash(key_hash)
            if record is None or not record.is_active:
                self._cache.pop(key_hash, None)
                raise UnauthenticatedError("the API key is unknown or revoked", code="auth_invalid")
            principal = Principal(key_id=record.key_id, role=record.role, scopes=record.scopes)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key_hash] = (now, principal)
        await self._maybe_touch(principal.key_id, now)
        return principal

    async def _maybe_touch(self, key_id: str, now: float) -> None:
        last = self._last_touch.get(key_id)
        if last is not None and now - last < self._touch_interval_s:
            return
        self._last_touch[key_id] = now
        try:
            await self._store.touch(key_id, at=datetime.now(UTC).replace(microsecond=0))
        except DomainError as exc:  # a failed bookkeeping write must not fail the request
            logger.warning("could not record key use", extra={"event": "auth_touch_failed", "key_id": key_id, "error": exc.code})
