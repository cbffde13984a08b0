"""``ocr-orchestrator eval RUN_ID GT.json``: evaluate a run against a ground-truth file without
a server; prints the report as a table and writes the eval artifact like the HTTP endpoint."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from domain.auth import Principal, Role, scopes_for
from domain.errors import InvalidInputError
from domain.ids import check_id
from entrypoints.container import build_container, close_services, open_services
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings

COLUMNS = ("matched", "mismatch", "pred_missing", "gt_missing", "canon_error", "total", "accuracy")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("eval", help="evaluate a run against a ground-truth JSON file")
    p.add_argument("run_id")
    p.add_argument("ground_truth", help="array of records with `file` (or {\"items\": [...]})")
    p.add_argument("--str-mode", default="strip", choices=["exact", "strip", "strip_collapse"])
    p.add_argument("--owner", default="cli", help="key id recorded as the eval's owner (default: cli)")
    p.add_argument("--json", action="store_true", help="print the whole eval artifact as JSON")


def table(block: dict[str, Any], title: str) -> str:
    rows = block["fields"]
    width = max([len("field")] + [len(r["path"]) for r in rows])
    lines = [title, f"{'field':<{width}}  " + "  ".join(f"{c:>12}" for c in COLUMNS)]
    for r in rows:
        cells = [f"{r[c]:>12}" if c != "accuracy" else
                 (f"{r[c]:>12.4f}" if r[c] is not None else f"{'-':>12}") for c in COLUMNS]
        lines.append(f"{r['path']:<{width}}  " + "  ".join(cells))
    em, micro = block["exact_match"], block["micro"]
    rate = "-" if em["rate"] is None else f"{em['rate']:.4f}"
    lines.append(f"exact match: {em['matched_documents']}/{em['documents']} ({rate})   "
                 f"micro P/R/F1: {_f(micro['precision'])} / {_f(micro['recall'])} / {_f(micro['f1'])}")
    return "\n".join(lines)


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


async def run_eval(settings: Settings, args: argparse.Namespace) -> int:
    configure_logging("WARNING", settings.log_format, stream=sys.stderr)
    path = Path(args.ground_truth)
    if not path.is_file():
        raise InvalidInputError(f"no such file: {args.ground_truth}")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"the ground truth is not JSON: {exc}") from None
    principal = Principal(key_id=check_id(args.owner, "owner"), role=Role.ADMIN.value, scopes=scopes_for(Role.ADMIN))
    container = build_container(settings)
    services = await open_services(container)
    try:
        body = await services.evaluator.evaluate_run(principal, run_id=args.run_id, gt=records,
                                                     str_mode=args.str_mode)
    finally:
        await close_services(container)
    if args.json:
        print(msgspec.json.encode(body).decode())
        return 0
    report = body["report"]
    print(f"eval {body['eval_id']} of run {body['run_id']} (task {body['task_id']}, str_mode {body['str_mode']})")
    print(f"stored as {body['artifact_rel']}\n")
    print(table(report["strict"], "STRICT (string equality after str_mode)"))
    print()
    print(table(report["normalised"], "NORMALISED (amounts as decimals, dates as ISO, case/space folded)"))
    counts = report["counts"]
    print(f"\ndocuments {counts['documents']}, failed items {counts['failed_items']}, "
          f"missing items {counts['missing_items']}, predictions without ground truth {counts['unmatched_predictions']}")
    return 0
