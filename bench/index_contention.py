"""The SQLite artifact index alone: what each ``/v1/extract`` does to it (``get`` then ``add``).

    .venv/bin/python -m bench.index_contention [--n 1500 --concurrency 1 8 32]

In-process, no HTTP: the service's own ``SqlArtifactIndex`` on a temp SQLite file with the
service's engine settings (WAL, ``BEGIN IMMEDIATE`` writers, busy_timeout). Shows the
per-request cost of the index and the tail latency of concurrent writers waiting on SQLite's
write lock (its busy handler sleeps and retries; it is not a fair queue).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from adapters.store.artifact_index import SqlArtifactIndex
from adapters.store.engine import create_engine_for, sqlite_url_for
from adapters.store.tables import metadata
from application.ports.artifact_index import IndexEntry
from bench import harness


async def one_level(concurrency: int, n: int, max_seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ocr-bench-index-") as tmp:
        engine = create_engine_for(sqlite_url_for(os.path.join(tmp, "index.db")))
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        index = SqlArtifactIndex(engine)
        latencies: list[float] = []
        ids = iter(range(n))
        deadline = time.monotonic() + max_seconds

        async def worker() -> None:
            for i in ids:
                if time.monotonic() >= deadline:
                    return
                started = time.perf_counter()
                await index.get("extract", f"r{i}")
                await index.add(IndexEntry(
                    kind="extract", artifact_id=f"r{i}", owner_key_id="bench",
                    day="2026-01-01", rel_ref=f"extracts/2026-01-01/r{i}.json",
                    created_at=datetime.now(UTC)))
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
        await engine.dispose()
    return {"concurrency": concurrency, "ops": len(latencies),
            "ops_per_s": round(len(latencies) / wall, 1),
            "latency_ms": harness.summarize_ms(latencies)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1500)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--max-seconds", type=float, default=60.0)
    args = p.parse_args(argv)
    results = []
    for level in args.concurrency:
        r = asyncio.run(one_level(level, args.n, args.max_seconds))
        lat = r["latency_ms"]
        print(f"concurrency {level:3d}: {r['ops_per_s']} get+add/s  latency ms p50 {lat['p50']}"
              f"  p90 {lat['p90']}  p99 {lat['p99']}  max {lat['max']}")
        results.append(r)
    print(json.dumps({"bench": "index_contention", **harness.machine(), "levels": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
