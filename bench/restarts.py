"""Restarts during one large batch: wasted model calls and wall time against the ideal.

    .venv/bin/python -m bench.restarts                      # SIGKILL three times
    .venv/bin/python -m bench.restarts --signal term        # SIGTERM (a deploy) three times

A simulated vLLM (``bench.sim_vllm``: fixed latency L, capacity C) and ``ocr-orchestrator
serve`` (``INFERENCE_BACKEND=vllm``, SQLite, local storage, local runner). One async batch of N
items (``--mode dir``: files under DATA_ROOT, ``POST /v1/batch_extract_async``; ``--mode upload``:
one multipart ``POST /v1/batch_extract_upload_async``). When the simulator has answered 25 %,
50 % and 75 % of the N request ids, the server gets the signal; it is restarted at once (same
database and storage), and the job resumes on the new process (ADR 0052).

Measured (ADR 0042/0052 goal: a resumed batch only repeats the calls in flight at each kill):

* ``model_calls``: chat completions the simulator received (each arrival counts, also one whose
  client died); ``unique_request_ids``; ``wasted_calls`` = calls − unique ids;
* ``in_flight_at_kills``: the simulator's in-flight + waiting calls read just before each
  signal; ``goal_wasted_le_in_flight`` = wasted ≤ their sum. That undercounts what a kill cuts
  off: a call answered in the last milliseconds whose artifact the process did not get to write
  is no longer open at the simulator. So per restart also ``unstored_calls``: ids the simulator
  was called for that have no stored extract artifact once the process has exited (open calls
  included); ``goal_wasted_le_unstored`` = wasted ≤ their sum, and ``repeated_not_cut_off``
  counts ids called more than once that were open or unstored at none of the signals (a resume
  that called the model again for a stored item; should be 0);
* ``wall_s`` (submit → job final), ``ideal_s`` = N·L/C, ``ratio`` = wall ÷ ideal, and
  ``ratio_excluding_restarts``: wall minus each restart's downtime (signal sent → the new
  process answers /v1/health) ÷ ideal. ``resume_gap_s`` per restart: healthy → the first new
  model call (the resumed job re-reading its finished items before dispatching the rest).

Every SIGKILL cuts a start short, so for ``--signal kill`` the server runs with
``JOBS_MAX_ATTEMPTS`` = restarts + 1 unless ``--max-attempts`` says otherwise (with the service
default of 3, the start after the third crash only salvages the finished items: the crash-loop
guard). A SIGTERM hands the job back in good order, which uses up no attempt, so ``--signal
term`` keeps the service default. The last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench import harness
from bench.batch_efficiency import TERMINAL, _submit_upload, _write_images, ideal_s

SIGNALS = {"kill": signal.SIGKILL, "term": signal.SIGTERM}


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, sim: harness.Proc, env: dict[str, str],
                 api_key: str) -> None:
        self.args, self.work, self.sim, self.env = args, work, sim, env
        self.auth = {"Authorization": f"Bearer {api_key}"}
        began = time.monotonic()
        self.server = harness.orchestrator(env, work).start()
        self.first_start_s = round(time.monotonic() - began, 3)  # a start with nothing to resume
        self.sim_url = f"http://{harness.HOST}:{sim.port}"  # type: ignore[attr-defined]
        self.cut_off: list[set[str]] = []  # per restart: ids of the calls open around the signal

    @property
    def base_url(self) -> str:
        return f"http://{harness.HOST}:{self.server.port}"  # type: ignore[attr-defined]

    def sim_stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.sim_url}/__stats", timeout=5).json()

    def open_ids(self) -> list[str]:
        return httpx.get(f"{self.sim_url}/__stats/in_flight", timeout=5).json()

    def stored_ids(self) -> set[str]:
        return {p.stem for p in (self.work / "artifacts" / "extracts").rglob("*.json")}

    def calls_by_id(self) -> dict[str, int]:
        return httpx.get(f"{self.sim_url}/__stats/request_ids", timeout=5).json()

    def submit(self) -> str:
        a = self.args
        with httpx.Client(base_url=self.base_url, headers=self.auth, timeout=300) as http:
            if a.mode == "dir":
                r = http.post("/v1/batch_extract_async", json={"task_id": a.task, "images_dir": "bench-images",
                                                               "concurrency": a.batch_concurrency})
            else:
                r = _submit_upload(http, a, sorted((self.work / "inputs").glob("*.png")))
        if r.status_code != 202:
            raise RuntimeError(f"batch submit answered {r.status_code}: {r.text[:500]}")
        return r.json()["job_id"]

    def wait_answered(self, target: int, deadline: float) -> dict[str, Any]:
        """Poll the simulator until ``target`` distinct request ids were answered."""
        while True:
            stats = self.sim_stats()
            if stats["answered_request_ids"] >= target:
                return stats
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {stats['answered_request_ids']} of {target} ids answered in time")
            time.sleep(0.01)

    def status(self, job_id: str) -> str:
        r = httpx.get(f"{self.base_url}/v1/jobs/{job_id}", headers=self.auth, timeout=30)
        r.raise_for_status()
        return r.json()["status"]

    def restart(self, sig: signal.Signals, job_id: str) -> dict[str, Any]:
        ids_before = set(self.open_ids())
        before = self.sim_stats()  # what the signal interrupts
        sent = time.monotonic()
        self.server.proc.send_signal(sig)  # type: ignore[union-attr]
        code = self.server.proc.wait(120)  # type: ignore[union-attr]
        exited = time.monotonic()
        # After SIGKILL the simulator still holds the calls the dead process had open (each for
        # up to L): together with those seen just before, they are the calls the signal cut off.
        ids_after = set(self.open_ids())
        # Calls made whose result is not stored: open ones, and ones answered in the last moments
        # whose artifact the process did not get to write. Their work is what the signal can waste.
        unstored = set(self.calls_by_id()) - self.stored_ids()
        calls_at_exit = self.sim_stats()["calls"]
        self.server = harness.orchestrator(self.env, self.work).start()
        healthy = time.monotonic()
        resumed = None
        while time.monotonic() - healthy < 60:
            if self.sim_stats()["calls"] != calls_at_exit:
                resumed = time.monotonic()
                break
            if self.status(job_id) in TERMINAL:  # ended without another call (e.g. a salvaging start)
                break
            time.sleep(0.01)
        self.cut_off.append(ids_before | ids_after | unstored)
        return {"answered_before": before["answered_request_ids"], "in_flight": before["in_flight"],
                "waiting": before["waiting"], "open_ids_before": len(ids_before), "open_ids_after_exit": len(ids_after),
                "unstored_calls": len(unstored), "exit_code": code, "stop_s": round(exited - sent, 3),
                "downtime_s": round(healthy - sent, 3), "resume_gap_s": None if resumed is None else round(resumed - healthy, 3)}

    def wait_final(self, job_id: str, deadline: float) -> dict[str, Any]:
        with httpx.Client(base_url=self.base_url, headers=self.auth, timeout=60) as http:
            while True:
                r = http.get(f"/v1/jobs/{job_id}", params={"wait": 10})
                r.raise_for_status()
                job = r.json()
                if job["status"] in TERMINAL:
                    return job
                if time.monotonic() > deadline:
                    raise RuntimeError(f"job {job_id} not final in time: {job['status']} {job.get('progress')}")

    def result(self, job_id: str) -> dict[str, Any]:
        r = httpx.get(f"{self.base_url}/v1/jobs/{job_id}/result", headers=self.auth, timeout=60)
        return r.json() if r.status_code == 200 else {"status": r.status_code, "body": r.text[:500]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    sig = SIGNALS[args.signal]
    capacity = min(args.capacity, args.inference_max_concurrency, args.batch_concurrency)
    with harness.workdir("restarts") as tmp:
        work = Path(tmp)
        _write_images(work / ("data/bench-images" if args.mode == "dir" else "inputs"), args.n)
        with harness.sim_vllm(work, latency_ms=args.latency_ms, capacity=args.capacity) as sim:
            env = harness.base_env(
                work, INFERENCE_BACKEND="vllm", VLLM_BASE_URL=f"http://{harness.HOST}:{sim.port}/v1",  # type: ignore[attr-defined]
                VLLM_MODEL="sim-model", INFERENCE_MAX_CONCURRENCY=str(args.inference_max_concurrency),
                **_attempts(args))
            bench = Bench(args, work, sim, env, harness.create_admin_key(env, work))
            try:
                httpx.post(f"{bench.sim_url}/__stats/reset", timeout=5).raise_for_status()
                deadline = time.monotonic() + args.max_seconds
                started = time.monotonic()
                job_id = bench.submit()
                restarts = []
                for fraction in args.at:
                    bench.wait_answered(int(args.n * fraction), deadline)
                    restarts.append({"at": fraction, **bench.restart(sig, job_id)})
                job = bench.wait_final(job_id, deadline)
                wall = time.monotonic() - started
                result = bench.result(job_id)
                stats = bench.sim_stats()
                calls_by_id = bench.calls_by_id()
                artifacts = len(list((work / "artifacts" / "extracts").rglob("*.json")))
            finally:
                bench.server.stop()
    ideal = ideal_s(args.n, args.latency_ms, capacity)
    in_flight = [r["in_flight"] + r["waiting"] for r in restarts]
    wasted = stats["calls"] - stats["unique_request_ids"]
    cut_off = set().union(*bench.cut_off) if bench.cut_off else set()
    repeated = {rid: n for rid, n in calls_by_id.items() if n > 1}
    unexplained = sorted(rid for rid in repeated if rid not in cut_off)
    unstored = [r["unstored_calls"] for r in restarts]
    downtime = sum(r["downtime_s"] for r in restarts)
    return {
        "bench": "restarts", **harness.machine(), "signal": args.signal, "mode": args.mode, "items": args.n,
        "sim_latency_ms": args.latency_ms, "sim_capacity": args.capacity, "effective_capacity": capacity,
        "jobs_max_attempts": int(env.get("JOBS_MAX_ATTEMPTS", 3)),
        "job_status": job["status"], "job_error": job.get("error"), "item_count": result.get("item_count"),
        "ok_count": result.get("ok_count"), "error_count": result.get("error_count"),
        "extract_artifacts": artifacts, "model_calls": stats["calls"],
        "unique_request_ids": stats["unique_request_ids"], "wasted_calls": wasted,
        "repeated_request_ids": len(repeated), "max_calls_per_id": max(calls_by_id.values(), default=0),
        "unstored_calls_at_kills": unstored, "goal_wasted_le_unstored": wasted <= sum(unstored),
        "repeated_not_cut_off": len(unexplained), "repeated_not_cut_off_examples": unexplained[:5],
        "in_flight_at_kills": in_flight, "goal_wasted_le_in_flight": wasted <= sum(in_flight),
        "first_start_s": bench.first_start_s, "restarts": restarts, "wall_s": round(wall, 3), "ideal_s": round(ideal, 3),
        "ratio": round(wall / ideal, 3), "restart_downtime_s": round(downtime, 3),
        "ratio_excluding_restarts": round((wall - downtime) / ideal, 3),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--signal", choices=sorted(SIGNALS), default="kill", help="SIGKILL (default) or SIGTERM")
    p.add_argument("--mode", choices=["dir", "upload"], default="dir")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--at", type=float, nargs="+", default=[0.25, 0.5, 0.75],
                   help="restart when this fraction of the items' ids were answered")
    p.add_argument("--task", default="receipt_v1")
    p.add_argument("--latency-ms", type=float, default=200.0)
    p.add_argument("--capacity", type=int, default=32, help="sim vLLM capacity")
    p.add_argument("--inference-max-concurrency", type=int, default=32)
    p.add_argument("--batch-concurrency", type=int, default=64, help="1..64")
    p.add_argument("--max-attempts", type=int, help="JOBS_MAX_ATTEMPTS (default: restarts + 1)")
    p.add_argument("--max-seconds", type=float, default=600.0)
    return p.parse_args(argv)


def _attempts(args: argparse.Namespace) -> dict[str, str]:
    if args.max_attempts:
        return {"JOBS_MAX_ATTEMPTS": str(args.max_attempts)}
    return {} if args.signal == "term" else {"JOBS_MAX_ATTEMPTS": str(len(args.at) + 1)}


def main(argv: list[str] | None = None) -> int:
    report = run(parse_args(argv))
    print(f"[restarts/{report['signal']}] {report['items']} items, job {report['job_status']} "
          f"(ok {report['ok_count']}, err {report['error_count']}, {report['extract_artifacts']} artifacts); "
          f"{report['model_calls']} calls for {report['unique_request_ids']} ids: {report['wasted_calls']} wasted, "
          f"in flight at the signals {report['in_flight_at_kills']} "
          f"({'within' if report['goal_wasted_le_in_flight'] else 'OVER'}), unstored at the signals "
          f"{report['unstored_calls_at_kills']} ({'within' if report['goal_wasted_le_unstored'] else 'OVER'}); "
          f"wall {report['wall_s']} s "
          f"vs ideal {report['ideal_s']} s = {report['ratio']}x ({report['ratio_excluding_restarts']}x without "
          f"{report['restart_downtime_s']} s of restarts)")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
