"""Managing API keys: create (the secret is returned once), revoke, list."""

from __future__ import annotations

import msgspec

from application.ports.api_keys import ApiKeyRecord, ApiKeyStore
from domain.auth import hash_api_key, new_api_key, parse_role, scopes_for
from domain.ids import check_id, utc_now


class CreatedKey(msgspec.Struct, frozen=True, kw_only=True):
    record: ApiKeyRecord
    api_key: str


async def create_api_key(store: ApiKeyStore, pepper: bytes, *, key_id: str, role: str) -> CreatedKey:
    check_id(key_id, "key_id")
    parsed_role = parse_role(role)
    secret = new_api_key()
    record = await store.create(
        key_id=key_id,
        key_hash=hash_api_key(secret, pepper),
        role=parsed_role.value,
        scopes=scopes_for(parsed_role),
        created_at=utc_now(),
    )
    return CreatedKey(record=record, api_key=secret)


async def revoke_api_key(store: ApiKeyStore, *, key_id: str) -> ApiKeyRecord:
    return await store.revoke(key_id, at=utc_now())


async def list_api_keys(store: ApiKeyStore) -> list[ApiKeyRecord]:
    return await store.list()
