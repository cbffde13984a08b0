"""Orchestrator overhead of ``POST /v1/extract`` with the mock model (no network inference).

    .venv/bin/python -m bench.overhead [--requests 3000 --concurrency 32 --client raw]

Starts ``ocr-orchestrator serve`` (one uvicorn worker, mock inference, auth on, local storage
and SQLite in a temp dir, LOG_LEVEL=WARNING), creates an admin key with the CLI, then:

1. warm-up: ``--warmup`` requests at ``--concurrency``;
2. serial: ``--serial`` requests one at a time — the per-request overhead without queueing;
3. load: ``--requests`` at ``--concurrency`` — throughput and latency under load.

Overhead per request = wall latency seen by the client − ``timings_ms.inference`` reported by
the server (the mock's own time), i.e. HTTP, auth, validation, decode, schema checks, artifact
write and index. Caveat: the load generator runs on the same 2-core machine as the server.
The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import signal
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import harness, loadgen


def extract_requests(api_key: str, task_id: str, png: bytes, prefix: str):
    b64 = base64.b64encode(png).decode()
    head = json.dumps({"task_id": task_id, "mime_type": "image/png", "image_base64": b64})[:-1]
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}

    def request_for(i: int) -> loadgen.Request:
        body = f'{head}, "request_id": "{prefix}-{i}"}}'.encode()
        return loadgen.Request("POST", "/v1/extract", headers, body)

    return request_for


def phase_report(name: str, result: loadgen.LoadResult, server_cpu_s: float) -> dict[str, Any]:
    walls, totals, infers, overheads, outside = [], [], [], [], []
    model_errors = 0
    for reply in result.ok:
        body = json.loads(reply.body)
        t = body["timings_ms"]
        walls.append(reply.latency_s)
        totals.append(t["total"] / 1000)
        infers.append(t["inference"] / 1000)
        overheads.append(reply.latency_s - t["inference"] / 1000)
        outside.append(reply.latency_s - t["total"] / 1000)
        model_errors += body.get("error") is not None
    done = len(result.replies)
    report = {
        "phase": name, "requests": done, "ok": len(result.ok), "model_errors": model_errors,
        "statuses": result.status_counts(), "timed_out": result.timed_out,
        "wall_s": round(result.wall_s, 3),
        "req_per_s": round(len(result.ok) / result.wall_s, 1) if result.wall_s else 0.0,
        "latency_ms": harness.summarize_ms(walls),
        "server_total_ms": harness.summarize_ms(totals),
        "inference_ms_p50": round(statistics.median(infers) * 1000, 2) if infers else None,
        "overhead_ms": harness.summarize_ms(overheads),
        "outside_use_case_ms": harness.summarize_ms(outside),
        "server_cpu_ms_per_req": round(server_cpu_s * 1000 / done, 2) if done else None,
        "server_cpu_util": round(server_cpu_s / result.wall_s, 2) if result.wall_s else None,
        "client_cpu_ms_per_req": round(result.client_cpu_s * 1000 / done, 2) if done else None,
    }
    return report


def print_phase(r: dict[str, Any]) -> None:
    lat, ovh, srv = r["latency_ms"], r["overhead_ms"], r["server_total_ms"]
    print(f"[{r['phase']}] {r['ok']}/{r['requests']} ok in {r['wall_s']} s -> {r['req_per_s']} req/s"
          f"  statuses={r['statuses']} model_errors={r['model_errors']}"
          f"{'  (TIME CAP HIT)' if r['timed_out'] else ''}")
    print(f"    wall latency ms  p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  max {lat['max']}")
    print(f"    server total ms  p50 {srv['p50']}  p90 {srv['p90']}  p99 {srv['p99']}"
          f"   (mock inference p50 {r['inference_ms_p50']} ms)")
    print(f"    overhead ms      p50 {ovh['p50']}  p90 {ovh['p90']}  p99 {ovh['p99']}"
          f"   (wall - inference); outside use case p50 {r['outside_use_case_ms']['p50']} ms")
    print(f"    CPU ms/req server {r['server_cpu_ms_per_req']} (util {r['server_cpu_util']} cores)"
          f"  client {r['client_cpu_ms_per_req']}; other processes {r['foreign_cpu_cores']} cores")


def start_profiler(pid: int, out: str) -> subprocess.Popen[bytes]:
    """py-spy (pip install py-spy) sampling the server; collapsed stacks for flame graphs."""
    argv = [str(harness.VENV_BIN / "py-spy"), "record", "--pid", str(pid), "--output", out,
            "--format", "raw", "--rate", "200", "--nonblocking", "--gil"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profiler(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def run_phase(name: str, server: harness.Proc, request_for, *, total: int,
                    concurrency: int, max_seconds: float, client: str,
                    profile: str | None = None) -> dict[str, Any]:
    profiler = start_profiler(server.pid, profile) if profile else None
    if profiler:
        await asyncio.sleep(1.0)  # let py-spy attach
    cpu0 = server.cpu_seconds()
    with harness.ForeignCpu(server) as foreign:
        result = await loadgen.run(harness.HOST, server.port, request_for, total=total,  # type: ignore[attr-defined]
                                   concurrency=concurrency, max_seconds=max_seconds, client=client)
    report = phase_report(name, result, server.cpu_seconds() - cpu0)
    report["foreign_cpu_cores"] = foreign.foreign_cores
    if profiler:
        stop_profiler(profiler)
        report["profile"] = profile
    print_phase(report)
    return report


async def bench(args: argparse.Namespace, server: harness.Proc, api_key: str) -> dict[str, Any]:
    w, h = (int(v) for v in args.image_size.split("x"))
    png = harness.small_png((w, h))
    prefix = f"ovh-{secrets.token_hex(4)}"
    request_for = extract_requests(api_key, args.task, png, prefix)
    common = {"max_seconds": args.max_seconds, "client": args.client}
    offset = 0

    def shifted(n: int):
        nonlocal offset
        start, offset = offset, offset + n
        return lambda i: request_for(start + i)

    await run_phase("warmup", server, shifted(args.warmup), total=args.warmup,
                    concurrency=args.concurrency, **common)
    serial = await run_phase("serial", server, shifted(args.serial), total=args.serial,
                             concurrency=1, **common)
    load = await run_phase("load", server, shifted(args.requests), total=args.requests,
                           concurrency=args.concurrency, profile=args.py_spy, **common)
    return {"bench": "overhead", **harness.machine(), "task": args.task, "image_bytes": len(png),
            "client": args.client, "concurrency": args.concurrency,
            "serial": serial, "load": load,
            "goals": {"p50_overhead_lt_10ms": serial["overhead_ms"]["p50"] < 10,
                      "req_per_s_ge_300": load["req_per_s"] >= 300}}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="receipt_v1")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--serial", type=int, default=300)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--max-seconds", type=float, default=120.0, help="cap per phase")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--image-size", default="320x240")
    parser.add_argument("--py-spy", metavar="OUT", help="profile the load phase with py-spy "
                        "into OUT (collapsed stacks; perturbs the numbers: use a separate run)")
    parser.add_argument("--keep-logs", action="store_true", help="print the server log tail")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with harness.workdir("overhead") as tmp:
        work = Path(tmp)
        env = harness.base_env(work, INFERENCE_BACKEND="mock")
        harness.prepare_database(env, work)
        api_key = harness.create_admin_key(env, work)
        server = harness.orchestrator(env, work)
        with server:
            print(f"server pid {server.pid} on {harness.HOST}:{server.port}; "  # type: ignore[attr-defined]
                  f"{harness.machine()['cpus']} CPUs shared by server and load generator")
            summary = asyncio.run(bench(args, server, api_key))
        if args.keep_logs:
            print(server.logs()[-3000:])
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
