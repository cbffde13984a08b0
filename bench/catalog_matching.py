"""Catalog matching at full size (issue 4): 1,000 goods and 500 equipment catalog items with
3,072-dimensional vectors as pgvector literals (~50 MB of JSON), 30 extracted items of each
kind, mock chat and embeddings (``embed_model="mock-3072"`` so dimensions agree).

    .venv/bin/python -m bench.catalog_matching [--repeat 5]

Measures, in-process: request decode (msgspec → AnalyzeIn), vector parsing (catalogs →
CatalogItem lists), Catalog.build, match_items (one matrix product per kind for 30 items),
and in a separate run the peak memory of those steps (tracemalloc); then end to end: the same body POSTed to a real
``ocr-orchestrator serve`` (wall latency at the client, server timings from the response).
Goals: < 1.5 s end to end, < 100 ms for the matching itself. Last line: a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np

from application.site_catalogs import parse_catalog
from bench import harness
from domain.site.matching import Catalog, match_items
from domain.site.thresholds import MatchThresholds
from entrypoints.http.site_schemas import AnalyzeIn

DIM = 3072
GOODS, EQUIPMENT, ITEMS = 1000, 500, 30


def literal(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7f}" for x in v) + "]"


def build_body(seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)

    def catalog(n: int, prefix: str, first_id: int) -> list[dict[str, Any]]:
        vecs = rng.standard_normal((n, DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        return [{"id": first_id + i, "name": f"{prefix} {i}", "vec": literal(vecs[i])} for i in range(n)]

    goods = [f"товар номер {i}" for i in range(ITEMS)]
    equipment = [f"станок модели {i}" for i in range(ITEMS)]
    text = ("Завод выпускает " + "; ".join(goods) + ". Оборудование: " + "; ".join(equipment) + ".")
    return json.dumps({"text_par": text, "pars_id": 1, "embed_model": f"mock-{DIM}",
                       "goods_catalog": catalog(GOODS, "Товар", 1),
                       "equipment_catalog": {"items": catalog(EQUIPMENT, "Станок", 100_000)}},
                      ensure_ascii=False).encode()


def timed(fn, *args):  # noqa: ANN001, ANN002, ANN202
    started = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - started) * 1000


def in_process(body: bytes, *, trace_memory: bool = False) -> dict[str, float]:
    """Step timings; with ``trace_memory`` only the peak memory is meaningful (tracemalloc slows
    every allocation several-fold, so timings are taken in runs without it)."""
    if trace_memory:
        tracemalloc.start()
    data, decode_ms = timed(lambda b: msgspec.json.decode(b, type=AnalyzeIn), body)
    (goods, equipment), parse_ms = timed(lambda: (parse_catalog(data.goods_catalog, "goods_catalog"),
                                                  parse_catalog(data.equipment_catalog, "equipment_catalog")))
    (gcat, ecat), build_ms = timed(lambda: (Catalog.build(goods, dim=DIM), Catalog.build(equipment, dim=DIM)))
    rng = np.random.default_rng(2)
    items = rng.standard_normal((ITEMS, DIM)).astype(np.float32)
    names = [f"item {i}" for i in range(ITEMS)]
    _, match_ms = timed(lambda: (match_items(names, items, gcat, MatchThresholds()),
                                 match_items(names, items, ecat, MatchThresholds())))
    out = {"decode_ms": decode_ms, "vector_parse_ms": parse_ms, "catalog_build_ms": build_ms,
           "match_ms": match_ms}
    if trace_memory:
        out = {"peak_traced_mb": tracemalloc.get_traced_memory()[1] / 2**20}
        tracemalloc.stop()
    return out


def end_to_end(body: bytes, repeat: int) -> dict[str, Any]:
    with harness.workdir("catalog") as tmp:
        work = Path(tmp)
        env = harness.base_env(work)
        key = harness.create_admin_key(env, work)
        with harness.orchestrator(env, work) as server, httpx.Client(timeout=120) as http:
            url = f"http://{harness.HOST}:{server.port}/v1/analyze/json"
            headers = {"X-API-Key": key, "Content-Type": "application/json"}
            http.post(url, headers=headers, content=body).raise_for_status()  # warm-up: class vectors cached
            walls, server_timings = [], []
            rss_before = server.memory_kb()["VmRSS"] / 1024
            for _ in range(repeat):
                started = time.perf_counter()
                r = http.post(url, headers=headers, content=body)
                walls.append((time.perf_counter() - started) * 1000)
                r.raise_for_status()
                server_timings.append(r.json()["timings"])
            out = r.json()
            assert out["counts"]["goods_catalog_vectors_used"] == GOODS, out["counts"]
            assert out["counts"]["equipment_catalog_vectors_used"] == EQUIPMENT, out["counts"]
            return {"e2e_ms_median": statistics.median(walls), "e2e_ms_max": max(walls),
                    "server_total_ms_median": statistics.median(t["total_ms"] for t in server_timings),
                    "goods_enrich_ms_median": statistics.median(t["goods_enrich_ms"] for t in server_timings),
                    "equipment_enrich_ms_median": statistics.median(t["equipment_enrich_ms"] for t in server_timings),
                    "server_rss_before_mb": round(rss_before, 1),
                    "server_peak_rss_mb": round(server.memory_kb()["VmHWM"] / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    body = build_body()
    print(f"request body: {len(body) / 2**20:.1f} MiB, {GOODS}+{EQUIPMENT} catalog vectors of {DIM} dims")
    runs = [in_process(body) for _ in range(args.repeat)]
    local = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    local |= in_process(body, trace_memory=True)
    for k, v in local.items():
        print(f"  {k:<22} {v:8.1f}")
    e2e = end_to_end(body, args.repeat)
    for k, v in e2e.items():
        print(f"  {k:<28} {v}")
    summary = {"bench": "catalog_matching", "body_mib": round(len(body) / 2**20, 1), **local, **e2e,
               "machine": harness.machine(), "code": harness.code_version()}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
