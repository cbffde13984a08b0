"""The InputUsage contract (MAX_INPUT_BYTES_PER_OWNER), run against every adapter. Subclasses
provide an ``adapter`` fixture (a fresh, empty store)."""

from __future__ import annotations

import asyncio

from application.ports.input_usage import InputUsage


class InputUsageContract:
    async def test_an_unknown_owner_has_stored_nothing(self, adapter: InputUsage) -> None:
        assert await adapter.total("nobody") == 0

    async def test_adds_up_to_the_limit_and_no_further(self, adapter: InputUsage) -> None:
        assert await adapter.add("alice", 60, limit=100)
        assert await adapter.add("alice", 40, limit=100)
        assert not await adapter.add("alice", 1, limit=100)
        assert await adapter.total("alice") == 100
        assert not await adapter.add("bob", 101, limit=100)
        assert await adapter.total("bob") == 0

    async def test_subtract_frees_room_and_never_goes_below_zero(self, adapter: InputUsage) -> None:
        await adapter.add("alice", 80, limit=100)
        await adapter.subtract("alice", 30)
        assert await adapter.add("alice", 50, limit=100)
        await adapter.subtract("alice", 1000)
        assert await adapter.total("alice") == 0
        await adapter.subtract("nobody", 5)
        assert await adapter.total("nobody") == 0

    async def test_concurrent_adds_never_pass_the_limit_together(self, adapter: InputUsage) -> None:
        outcomes = await asyncio.gather(*(adapter.add("alice", 10, limit=95) for _ in range(20)))
        assert sum(outcomes) == 9 and await adapter.total("alice") == 90
