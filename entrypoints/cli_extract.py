"""``ocr-orchestrator extract FILE…|DIR --task T``: a batch through the application layer,
without a server, with a progress bar; it writes a run exactly like the HTTP batch does."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from application.inputs import ext_for
from application.ports.data_root import IMAGE_EXTENSIONS
from domain.auth import Principal, Role, scopes_for
from domain.errors import InvalidInputError
from domain.ids import check_id
from entrypoints.container import build_container, close_services, open_services
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings


def add_parser(sub: Any) -> None:
    p = sub.add_parser("extract", help="run a batch over local files without a server")
    p.add_argument("paths", nargs="+", help="image files and/or directories (searched recursively)")
    p.add_argument("--task", required=True, help="task id, e.g. receipt_fields_v1")
    p.add_argument("--run-id", default=None)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--owner", default="cli", help="key id recorded as the run's owner (default: cli)")
    p.add_argument("--json", action="store_true", help="print the whole batch response")


def collect(paths: list[str]) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            images = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            found += [(str(p.relative_to(path)), p) for p in images]
        elif path.is_file():
            found.append((path.name, path))
        else:
            raise InvalidInputError(f"no such file or directory: {raw}")
    if not found:
        raise InvalidInputError("no image files found")
    return found


class ProgressBar:
    def __init__(self, total: int, stream: Any = sys.stderr) -> None:
        self.total, self.stream, self.started = total, stream, time.monotonic()

    async def __call__(self, progress: dict[str, Any]) -> None:
        done, width = progress["done"], 30
        filled = int(width * done / max(self.total, 1))
        rate = done / max(time.monotonic() - self.started, 1e-6)
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
                          f"ok={progress['ok']} err={progress['err']} {rate:.1f}/s")
        self.stream.flush()


async def run_extract(settings: Settings, args: argparse.Namespace) -> int:
    configure_logging("WARNING", settings.log_format, stream=sys.stderr)
    if not 1 <= args.concurrency <= 64:
        raise InvalidInputError("--concurrency must be from 1 to 64")
    files = collect(args.paths)[: args.limit] if args.limit else collect(args.paths)
    principal = Principal(key_id=check_id(args.owner, "owner"), role=Role.ADMIN.value, scopes=scopes_for(Role.ADMIN))
    container = build_container(settings)
    services = await open_services(container)
    try:
        uploads = [(name, await services.inputs.put_bytes(principal.key_id, path.read_bytes(), ext_for(name, None)))
                   for name, path in files]
        plan = await services.planner.from_uploads(task_id=args.task, uploads=uploads,
                                                   concurrency=args.concurrency, run_id=args.run_id, limit=None)
        outcome = await services.batch_runner.run(plan, principal, progress=ProgressBar(len(uploads)))
    finally:
        await close_services(container)
    sys.stderr.write("\n")
    body = outcome.response
    summary = {k: body[k] for k in ("run_id", "task_id", "item_count", "ok_count", "error_count", "artifact_rel")}
    print(json.dumps(body if args.json else summary, ensure_ascii=False))
    return 0 if body["error_count"] == 0 else 3
