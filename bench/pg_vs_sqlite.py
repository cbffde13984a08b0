"""``POST /v1/extract`` with the jobs/index on SQLite, then on PostgreSQL, in one run (issue 12).

    .venv/bin/python -m bench.pg_vs_sqlite [--requests 5000 --concurrency 32 --rounds 2]

The same load as ``bench.overhead`` (mock model, local storage, auth on, a 320×240 PNG, unique
``request_id``s, concurrency 32), against ``ocr-orchestrator serve`` twice per round: once
with the default SQLite files, once with ``DATABASE_URL`` on a fresh PostgreSQL database
(created here, ``db upgrade`` first, dropped afterwards). ``--rounds N`` alternates the two
modes N times, each on a fresh server and fresh storage, so drift on a shared machine hits
both alike.

Per mode it prints req/s, the server's CPU per request, PostgreSQL's own CPU per request
(the ``postgres`` processes alive at both ends of the phase — a backend that exits in
between is not counted, so with connection churn this is a lower bound) and the whole
machine's. For PostgreSQL it also prints the database's counters over the load phase, read
from ``pg_stat_database`` on another database (so the bench's queries do not count):
commits, rollbacks and new sessions (connections), plus the most backends seen at once
(``pg_stat_activity``, sampled every 100 ms). Backends report counters when idle, at most
every 10 s: the bench waits ``--stats-settle-s`` before the first reading (after the
warm-up) and after the phase before the last.

The PostgreSQL server is ``BENCH_DATABASE_URL`` / ``TEST_DATABASE_URL`` (any database on it),
default ``postgresql://postgres@127.0.0.1:5432/postgres``. The last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench import harness, loadgen
from bench.overhead import extract_requests, phase_report, start_profiler, stop_profiler

DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
COUNTERS = ("xact_commit", "xact_rollback", "sessions", "tup_inserted", "tup_updated", "tup_deleted")


def admin_dsn() -> str:
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or DEFAULT_ADMIN_DSN
    return url.replace("postgresql+asyncpg://", "postgresql://")


class Postgres:
    """One fresh database on the server, and an observer connection to another database."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.name = f"ocr_bench_{secrets.token_hex(5)}"
        self.conn: Any = None

    @property
    def url(self) -> str:
        base = self.dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        return f"{base}/{self.name}"

    async def __aenter__(self) -> Postgres:
        import asyncpg  # type: ignore[import-untyped]

        self.conn = await asyncpg.connect(self.dsn, timeout=10)
        await self.conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await self.conn.close()

    async def counters(self) -> dict[str, int]:
        await self.conn.execute("SELECT pg_stat_clear_snapshot()")
        row = await self.conn.fetchrow(
            f"SELECT {', '.join(COUNTERS)}, numbackends FROM pg_stat_database WHERE datname = $1", self.name)
        return dict(row)

    async def backends(self) -> int:
        await self.conn.execute("SELECT pg_stat_clear_snapshot()")
        return await self.conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", self.name)

    async def settings(self) -> dict[str, str]:
        rows = await self.conn.fetch(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('max_connections', 'shared_buffers', 'synchronous_commit', 'fsync')")
        version = await self.conn.fetchval("SHOW server_version")
        return {"server_version": version, **{r["name"]: r["setting"] for r in rows}}


def postgres_cpu_s() -> float:
    """User + system CPU seconds of the live ``postgres`` processes (the server's own)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        if comm != "postgres":
            continue
        fields = raw.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / harness.CLK_TCK


async def sample_backends(pg: Postgres, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], await pg.backends())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


async def load_phase(name: str, server: harness.Proc, request_for: Any, args: argparse.Namespace,
                     pg: Postgres | None) -> dict[str, Any]:
    if pg:  # the warm-up's counters arrive late too: let them land before the first reading
        await asyncio.sleep(args.stats_settle_s)
    before = await pg.counters() if pg else None
    peak = [0]
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_backends(pg, peak, stop)) if pg else None
    profiler = start_profiler(server.pid, f"{args.py_spy}.{name}") if args.py_spy else None
    if profiler:
        await asyncio.sleep(1.0)  # let py-spy attach
    cpu0, pg_cpu0, busy0 = server.cpu_seconds(), postgres_cpu_s(), harness.machine_busy_s()
    with harness.ForeignCpu(server) as foreign:
        result = await loadgen.run(harness.HOST, server.port, request_for, total=args.requests,  # type: ignore[attr-defined]
                                   concurrency=args.concurrency, max_seconds=args.max_seconds, client="raw")
    server_cpu, pg_cpu = server.cpu_seconds() - cpu0, postgres_cpu_s() - pg_cpu0
    busy = harness.machine_busy_s() - busy0
    if profiler:
        stop_profiler(profiler)
    stop.set()
    if sampler:
        await sampler
    report = phase_report(name, result, server_cpu)
    done = max(report["requests"], 1)
    report["postgres_cpu_ms_per_req"] = round(pg_cpu * 1000 / done, 3)
    report["machine_cpu_ms_per_req"] = round(busy * 1000 / done, 3)
    report["foreign_cpu_cores"] = foreign.foreign_cores
    if pg:
        await asyncio.sleep(args.stats_settle_s)
        after = await pg.counters()
        delta = {k: after[k] - before[k] for k in COUNTERS}  # type: ignore[index]
        report["pg"] = {**delta, "numbackends_after": after["numbackends"], "peak_backends": peak[0],
                        **{f"{k}_per_req": round(delta[k] / done, 3) for k in ("xact_commit", "xact_rollback",
                                                                                 "sessions")}}
    return report


def print_mode(mode: str, r: dict[str, Any]) -> None:
    lat = r["latency_ms"]
    print(f"  [{mode}] {r['ok']}/{r['requests']} ok in {r['wall_s']} s -> {r['req_per_s']} req/s  "
          f"statuses={r['statuses']}{'  (TIME CAP HIT)' if r['timed_out'] else ''}")
    print(f"      latency ms p50 {lat['p50']} p90 {lat['p90']} p99 {lat['p99']} max {lat['max']}")
    print(f"      CPU ms/req: server {r['server_cpu_ms_per_req']} (util {r['server_cpu_util']})  "
          f"postgres {r['postgres_cpu_ms_per_req']}  machine {r['machine_cpu_ms_per_req']}  "
          f"client {r['client_cpu_ms_per_req']}; other processes {r['foreign_cpu_cores']} cores")
    if "pg" in r:
        p = r["pg"]
        print(f"      pg_stat_database: {p['xact_commit']} commits, {p['xact_rollback']} rollbacks, "
              f"{p['sessions']} new sessions ({p['xact_commit_per_req']} / {p['xact_rollback_per_req']} / "
              f"{p['sessions_per_req']} per request); peak backends {p['peak_backends']}, "
              f"{p['numbackends_after']} after")


async def run_mode(mode: str, args: argparse.Namespace, png: bytes, pg: Postgres | None) -> dict[str, Any]:
    with harness.workdir(f"pgvs-{mode}") as tmp:
        work = Path(tmp)
        extra = {"INFERENCE_BACKEND": "mock"}
        if pg:
            extra["DATABASE_URL"] = pg.url
        if args.service_tree:  # another checkout's code (e.g. before a change) behind the same bench
            extra["PYTHONPATH"] = str(Path(args.service_tree).resolve())
        env = harness.base_env(work, **extra)
        harness.prepare_database(env, work)
        api_key = harness.create_admin_key(env, work)
        server = harness.orchestrator(env, work)
        with server:
            request_for = extract_requests(api_key, args.task, png, f"pgvs-{mode}-{secrets.token_hex(4)}")
            warm = await loadgen.run(harness.HOST, server.port, request_for, total=args.warmup,  # type: ignore[attr-defined]
                                     concurrency=args.concurrency, max_seconds=args.max_seconds, client="raw")
            if len(warm.ok) != args.warmup:
                print(f"  [{mode}] warm-up: {warm.status_counts()}\n{server.logs()[-3000:]}")
            report = await load_phase(mode, server, lambda i: request_for(args.warmup + i), args, pg)
        print_mode(mode, report)
        if report["ok"] != report["requests"]:
            print(server.logs()[-3000:])
        return report


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    w, h = (int(v) for v in args.image_size.split("x"))
    png = harness.small_png((w, h))
    rounds: list[dict[str, Any]] = []
    settings: dict[str, str] = {}
    for n in range(args.rounds):
        print(f"round {n + 1}/{args.rounds}")
        sqlite = await run_mode("sqlite", args, png, None)
        async with Postgres(admin_dsn()) as pg:
            settings = settings or await pg.settings()
            postgres = await run_mode("postgres", args, png, pg)
        ratio = round(postgres["req_per_s"] / sqlite["req_per_s"], 3) if sqlite["req_per_s"] else None
        print(f"  ratio postgres/sqlite: {ratio}")
        rounds.append({"sqlite": sqlite, "postgres": postgres, "ratio": ratio})
    ratios = [r["ratio"] for r in rounds if r["ratio"] is not None]
    return {"bench": "pg_vs_sqlite", **harness.machine(), "service_tree": args.service_tree,
            "postgres": settings, "task": args.task,
            "concurrency": args.concurrency, "requests": args.requests, "rounds": rounds,
            "ratio_median": statistics.median(ratios) if ratios else None,
            "goal_ratio_ge_0_8": bool(ratios) and statistics.median(ratios) >= 0.8}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="receipt_v1")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="alternate SQLite and PostgreSQL this many times")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="cap per phase")
    parser.add_argument("--stats-settle-s", type=float, default=11.0,
                        help="wait before reading pg_stat_database (idle backends report within 10 s)")
    parser.add_argument("--image-size", default="320x240")
    parser.add_argument("--service-tree", metavar="DIR", help="run the service from this source tree "
                        "(PYTHONPATH), e.g. `git archive <commit>` unpacked: before/after on the same machine")
    parser.add_argument("--py-spy", metavar="OUT", help="profile each load phase with py-spy into OUT.sqlite / "
                        "OUT.postgres (collapsed stacks; perturbs the numbers: use a separate run)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    summary = asyncio.run(bench(args))
    summary["bench_wall_s"] = round(time.monotonic() - started, 1)
    # The long per-phase detail stays in the rounds; the headline first.
    head = {k: summary[k] for k in ("ratio_median", "goal_ratio_ge_0_8")}
    print(json.dumps(head))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
