"""``ocr-orchestrator analyze REQUEST.json``: the analyze use case without a server; prints the
response JSON (the same body POST /v1/analyze/json answers)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec

from domain.auth import Principal, Role, scopes_for
from domain.errors import DomainError, InvalidInputError, ValidationFailedError
from domain.ids import check_id, new_id
from entrypoints.container import build_container, close_services, open_services
from entrypoints.http.routes.site import to_command
from entrypoints.http.site_schemas import AnalyzeIn
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings


def add_parser(sub: Any) -> None:
    p = sub.add_parser("analyze", help="analyse a site text from a request JSON file (- for stdin)")
    p.add_argument("request", help="a JSON file shaped like the POST /v1/analyze/json body")
    p.add_argument("--owner", default="cli", help="key id recorded as the artifact's owner (default: cli)")


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    file = Path(path)
    if not file.is_file():
        raise InvalidInputError(f"no such file: {path}")
    return file.read_bytes()


async def run_analyze(settings: Settings, args: argparse.Namespace) -> int:
    configure_logging("WARNING", settings.log_format, stream=sys.stderr)
    try:
        data = msgspec.json.decode(_read(args.request), type=AnalyzeIn)
    except msgspec.ValidationError as exc:
        raise ValidationFailedError(f"the request is not a valid analyze body: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidInputError(f"the request is not JSON: {exc}") from None
    principal = Principal(key_id=check_id(args.owner, "owner"), role=Role.CLIENT.value,
                          scopes=scopes_for(Role.CLIENT))
    container = build_container(settings)
    services = await open_services(container)
    try:
        body = await services.analyzer.run(to_command(data, new_id(), settings), principal)
    except DomainError as exc:
        error = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
        sys.stderr.write(msgspec.json.encode(error).decode() + "\n")
        return 1
    finally:
        await close_services(container)
    sys.stdout.write(msgspec.json.encode(body).decode() + "\n")
    return 0
