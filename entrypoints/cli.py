"""The ``ocr-orchestrator`` command (SPEC §11)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from domain.errors import DomainError
from entrypoints.settings import SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocr-orchestrator", description="OCR Orchestrator service and tools")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default=None, help="default: HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: PORT or 8080")
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")

    sub.add_parser("worker", help="run the Celery worker that executes jobs (JOBS_BACKEND=celery)")

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key and print it once")
    create.add_argument("--key-id", required=True)
    create.add_argument("--role", required=True, choices=["client", "debugger", "admin"])
    revoke = keys.add_parser("revoke", help="revoke a key")
    revoke.add_argument("--key-id", required=True)
    keys.add_parser("list", help="list keys (never their secrets)")

    from entrypoints.cli_extract import add_parser as add_extract

    add_extract(sub)
    from entrypoints.cli_analyze import add_parser as add_analyze

    add_analyze(sub)
    from entrypoints.cli_eval import add_parser as add_eval

    add_eval(sub)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations to every configured database")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "serve":
            from entrypoints.serve import serve

            return serve(settings, host=args.host, port=args.port, workers=args.workers)
        if args.command == "worker":
            from entrypoints.worker import run_worker

            return run_worker(settings)
        from entrypoints import cli_admin

        if args.command == "keys":
            return asyncio.run(cli_admin.keys_command(settings, args))
        if args.command == "db":
            return asyncio.run(cli_admin.db_upgrade(settings))
        if args.command == "eval":
            from entrypoints.cli_eval import run_eval

            return asyncio.run(run_eval(settings, args))
        if args.command == "analyze":
            from entrypoints.cli_analyze import run_analyze

            return asyncio.run(run_analyze(settings, args))
        if args.command == "extract":
            from entrypoints.cli_extract import run_extract

            return asyncio.run(run_extract(settings, args))
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
