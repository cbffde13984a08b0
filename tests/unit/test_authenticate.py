"""Authenticator: cached lookups with a bounded revocation window, throttled last-use writes."""

from __future__ import annotations

import pytest

from application.api_keys import create_api_key, revoke_api_key
from application.authenticate import Authenticator
from domain.auth import ANONYMOUS
from domain.errors import StorageUnavailableError, UnauthenticatedError
from tests.support.fakes import InMemoryApiKeyStore

PEPPER = b"unit-pepper"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def setup() -> tuple[InMemoryApiKeyStore, Authenticator, Clock, str]:
    store, clock = InMemoryApiKeyStore(), Clock()
    created = await create_api_key(store, PEPPER, key_id="k1", role="client")
    auth = Authenticator(store, PEPPER, cache_ttl_s=5, touch_interval_s=60, monotonic=clock)
    return store, auth, clock, created.api_key


async def test_revocation_takes_effect_once_the_cache_window_passes(setup) -> None:  # noqa: ANN001
    store, auth, clock, key = setup
    assert (await auth.authenticate(key)).key_id == "k1"
    await revoke_api_key(store, key_id="k1")
    clock.now += 4
    assert (await auth.authenticate(key)).key_id == "k1"  # still inside the window
    clock.now += 2
    with pytest.raises(UnauthenticatedError) as err:
        await auth.authenticate(key)
    assert err.value.code == "auth_invalid"


async def test_last_used_is_written_once_a_minute(setup) -> None:  # noqa: ANN001
    store, auth, clock, key = setup
    writes = []
    original = store.touch

    async def touch(key_id: str, *, at) -> None:  # noqa: ANN001
        writes.append(clock.now)
        await original(key_id, at=at)

    store.touch = touch  # type: ignore[method-assign]
    for _ in range(15):  # 1000 s … 1070 s
        await auth.authenticate(key)
        clock.now += 5
    assert writes == [1000.0, 1060.0]


async def test_a_failing_last_used_write_does_not_fail_the_request(setup) -> None:  # noqa: ANN001
    store, auth, _, key = setup

    async def broken(*_, **__) -> None:  # noqa: ANN002, ANN003
        raise StorageUnavailableError("down")

    store.touch = broken  # type: ignore[method-assign]
    assert (await auth.authenticate(key)).key_id == "k1"


async def test_missing_and_unknown_keys(setup) -> None:  # noqa: ANN001
    _, auth, _, _ = setup
    with pytest.raises(UnauthenticatedError) as missing:
        await auth.authenticate(None)
    assert missing.value.code == "auth_missing"
    with pytest.raises(UnauthenticatedError) as unknown:
        await auth.authenticate("not-a-key")
    assert unknown.value.code == "auth_invalid"


async def test_disabled_auth_is_anonymous() -> None:
    auth = Authenticator(InMemoryApiKeyStore(), PEPPER, enabled=False)
    assert await auth.authenticate(None) == ANONYMOUS
