"""The ApiKeyStore contract, written once and run against every adapter.

Subclasses provide two fixtures: ``adapter`` (a fresh, empty store) and ``unreachable``
(a store whose database cannot be reached).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from application.ports.api_keys import ApiKeyRecord, ApiKeyStore
from domain.errors import ConflictError, NotFoundError, StorageUnavailableError

T0 = datetime(2024, 5, 1, 12, 30, 45, 123456, tzinfo=UTC)
CLIENT_SCOPES = ("extract:run",)
ADMIN_SCOPES = ("extract:run", "debug:run", "debug:read_raw")


async def make_key(store: ApiKeyStore, key_id: str, **overrides: object) -> ApiKeyRecord:
    values: dict[str, object] = {
        "key_id": key_id,
        "key_hash": f"{key_id:0>8}".encode().hex().ljust(64, "0"),
        "role": "client",
        "scopes": CLIENT_SCOPES,
        "created_at": T0,
    }
    values.update(overrides)
    return await store.create(**values)  # type: ignore[arg-type]


def assert_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0)


class ApiKeyStoreContract:
    async def test_create_returns_the_stored_record(self, adapter: ApiKeyStore) -> None:
        record = await make_key(adapter, "alice", role="admin", scopes=ADMIN_SCOPES)
        assert isinstance(record.api_key_id, int)
        assert (record.key_id, record.role, record.scopes) == ("alice", "admin", ADMIN_SCOPES)
        assert record.is_active is True
        assert record.created_at == T0
        assert_utc(record.created_at)
        assert record.last_used_at is None and record.revoked_at is None

    async def test_find_by_hash_round_trips_every_field(self, adapter: ApiKeyStore) -> None:
        created = await make_key(
            adapter, "alice", role="debugger", scopes=("extract:run", "debug:run")
        )
        found = await adapter.find_by_hash(created.key_hash)
        assert found == created
        assert found is not None and isinstance(found.scopes, tuple)
        assert_utc(found.created_at)

    async def test_empty_scopes_round_trip(self, adapter: ApiKeyStore) -> None:
        created = await make_key(adapter, "nobody", scopes=())
        found = await adapter.find_by_hash(created.key_hash)
        assert found is not None and found.scopes == ()

    async def test_find_by_unknown_hash_is_none(self, adapter: ApiKeyStore) -> None:
        await make_key(adapter, "alice")
        assert await adapter.find_by_hash("f" * 64) is None

    async def test_timestamps_in_other_zones_come_back_as_the_same_instant_in_utc(
        self, adapter: ApiKeyStore
    ) -> None:
        plus_two = T0.astimezone(timezone(timedelta(hours=2)))
        created = await make_key(adapter, "alice", created_at=plus_two)
        found = await adapter.find_by_hash(created.key_hash)
        assert found is not None and found.created_at == T0
        assert_utc(found.created_at)
        assert found.created_at.hour == T0.hour

    async def test_naive_timestamps_are_refused(self, adapter: ApiKeyStore) -> None:
        naive = T0.replace(tzinfo=None)
        with pytest.raises(ValueError):
            await make_key(adapter, "alice", created_at=naive)
        await make_key(adapter, "bob")
        with pytest.raises(ValueError):
            await adapter.touch("bob", at=naive)
        with pytest.raises(ValueError):
            await adapter.revoke("bob", at=naive)

    async def test_api_key_ids_are_distinct(self, adapter: ApiKeyStore) -> None:
        ids = [(await make_key(adapter, f"k{i}")).api_key_id for i in range(3)]
        assert len(set(ids)) == 3

    async def test_duplicate_key_id_is_a_conflict(self, adapter: ApiKeyStore) -> None:
        await make_key(adapter, "alice")
        with pytest.raises(ConflictError) as caught:
            await make_key(adapter, "alice", key_hash="a" * 64)
        assert caught.value.code == "conflict"
        assert "alice" in caught.value.message

    async def test_duplicate_hash_is_a_conflict(self, adapter: ApiKeyStore) -> None:
        first = await make_key(adapter, "alice")
        with pytest.raises(ConflictError) as caught:
            await make_key(adapter, "bob", key_hash=first.key_hash)
        assert caught.value.code == "conflict"
        assert [r.key_id for r in await adapter.list()] == ["alice"]

    async def test_concurrent_creates_of_one_key_id_have_exactly_one_winner(
        self, adapter: ApiKeyStore
    ) -> None:
        results = await asyncio.gather(
            *(make_key(adapter, "racer", key_hash=f"{i:064x}") for i in range(8)),
            return_exceptions=True,
        )
        winners = [r for r in results if isinstance(r, ApiKeyRecord)]
        assert len(winners) == 1
        assert all(isinstance(r, ConflictError) for r in results if not isinstance(r, ApiKeyRecord))
        assert await adapter.find_by_hash(winners[0].key_hash) == winners[0]

    async def test_revoke_deactivates_and_records_the_time(self, adapter: ApiKeyStore) -> None:
        created = await make_key(adapter, "alice")
        at = T0 + timedelta(hours=1, microseconds=7)
        revoked = await adapter.revoke("alice", at=at)
        assert revoked.is_active is False and revoked.revoked_at == at
        assert_utc(revoked.revoked_at)
        assert await adapter.find_by_hash(created.key_hash) == revoked

    async def test_revoking_twice_keeps_the_first_time(self, adapter: ApiKeyStore) -> None:
        await make_key(adapter, "alice")
        first = await adapter.revoke("alice", at=T0 + timedelta(hours=1))
        again = await adapter.revoke("alice", at=T0 + timedelta(hours=2))
        assert again.revoked_at == first.revoked_at == T0 + timedelta(hours=1)
        assert again.is_active is False

    async def test_revoke_unknown_key_is_not_found(self, adapter: ApiKeyStore) -> None:
        with pytest.raises(NotFoundError):
            await adapter.revoke("ghost", at=T0)

    async def test_list_is_ordered_by_key_id(self, adapter: ApiKeyStore) -> None:
        assert await adapter.list() == []
        for key_id in ("mallory", "alice", "zed", "bob"):
            await make_key(adapter, key_id)
        await adapter.revoke("zed", at=T0)
        listed = await adapter.list()
        assert [r.key_id for r in listed] == ["alice", "bob", "mallory", "zed"]
        assert [r.is_active for r in listed] == [True, True, True, False]

    async def test_touch_records_last_use(self, adapter: ApiKeyStore) -> None:
        created = await make_key(adapter, "alice")
        at = T0 + timedelta(minutes=5, microseconds=1)
        await adapter.touch("alice", at=at)
        found = await adapter.find_by_hash(created.key_hash)
        assert found is not None and found.last_used_at == at
        assert_utc(found.last_used_at)
        later = at + timedelta(minutes=1)
        await adapter.touch("alice", at=later)
        found = await adapter.find_by_hash(created.key_hash)
        assert found is not None and found.last_used_at == later

    async def test_touch_never_moves_last_use_backwards(self, adapter: ApiKeyStore) -> None:
        created = await make_key(adapter, "alice")
        await adapter.touch("alice", at=T0 + timedelta(minutes=5))
        await adapter.touch("alice", at=T0 + timedelta(minutes=1))
        found = await adapter.find_by_hash(created.key_hash)
        assert found is not None and found.last_used_at == T0 + timedelta(minutes=5)

    async def test_touch_unknown_key_is_not_found(self, adapter: ApiKeyStore) -> None:
        with pytest.raises(NotFoundError):
            await adapter.touch("ghost", at=T0)

    async def test_ping_succeeds(self, adapter: ApiKeyStore) -> None:
        await adapter.ping()

    async def test_unreachable_database_is_storage_unavailable(
        self, unreachable: ApiKeyStore
    ) -> None:
        with pytest.raises(StorageUnavailableError) as caught:
            await unreachable.ping()
        assert caught.value.code == "storage_unavailable"
        with pytest.raises(StorageUnavailableError):
            await unreachable.find_by_hash("0" * 64)
        with pytest.raises(StorageUnavailableError):
            await make_key(unreachable, "alice")
