"""Administrative CLI commands: API keys and database migrations."""

from __future__ import annotations

import argparse
import json
import sys

from application.api_keys import create_api_key, list_api_keys, revoke_api_key
from domain.ids import format_ts
from entrypoints.container import build_container, upgrade_databases
from entrypoints.logs import configure_logging
from entrypoints.services import resolve
from entrypoints.settings import Settings


async def keys_command(settings: Settings, args: argparse.Namespace) -> int:
    configure_logging("WARNING", settings.log_format, stream=sys.stderr)  # stdout carries the result
    container = build_container(settings)
    try:
        store = await resolve(container.api_key_store())
        if args.keys_command == "create":
            pepper = container.pepper()
            created = await create_api_key(store, pepper, key_id=args.key_id, role=args.role)
            print(json.dumps({"key_id": created.record.key_id, "role": created.record.role,
                              "scopes": list(created.record.scopes), "api_key": created.api_key}))
        elif args.keys_command == "revoke":
            record = await revoke_api_key(store, key_id=args.key_id)
            print(json.dumps({"key_id": record.key_id, "revoked_at": format_ts(record.revoked_at)}))
        else:
            for record in await list_api_keys(store):
                print(json.dumps({
                    "key_id": record.key_id, "role": record.role, "scopes": list(record.scopes),
                    "is_active": record.is_active, "created_at": format_ts(record.created_at),
                    "last_used_at": format_ts(record.last_used_at) if record.last_used_at else None,
                    "revoked_at": format_ts(record.revoked_at) if record.revoked_at else None,
                }))
    finally:
        await resolve(container.shutdown_resources())
    return 0


async def db_upgrade(settings: Settings) -> int:
    configure_logging(settings.log_level, settings.log_format, stream=sys.stderr)
    for url in await upgrade_databases(settings):
        print(f"upgraded {url}")
    return 0
