"""Server memory while one multipart request uploads 200 images of 2 MB each.

    .venv/bin/python -m bench.upload_memory [--files 200 --file-mb 2]

Generates real, decodable noise PNGs of ~2 MB (noise barely compresses), starts
``ocr-orchestrator serve`` (mock inference, local storage in a temp dir,
``MAX_REQUEST_BYTES`` raised so the ~400 MB request is allowed), warms it up with a tiny
batch, then posts all files in ONE ``POST /v1/batch_extract_upload_async`` streamed from disk
and samples the server's ``/proc/<pid>/status`` VmRSS every 10 ms:

* upload phase — from the first byte sent to the 202 (the streaming the goal is about);
* job phase — from the 202 until the job is terminal (items decoded and "inferred").

Peak growth = peak RSS in the phase − RSS just before the upload. VmHWM is reset through
``/proc/<pid>/clear_refs`` before the upload when the kernel allows it, as a cross-check of
the sampled peak. Exits 2 with a clear message when the endpoint answers 404.
The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench import harness

UPLOAD_ASYNC = "/v1/batch_extract_upload_async"
TERMINAL = {"succeeded", "failed", "canceled"}
MiB = 1024 * 1024


class EndpointMissing(RuntimeError):
    pass


class RssSampler(threading.Thread):
    """Peak VmRSS of a process per named phase, sampled every ``interval`` seconds."""

    def __init__(self, server: harness.Proc, interval: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.server, self.interval = server, interval
        self.phase = "idle"
        self.peaks: dict[str, int] = {}
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                rss = self.server.memory_kb()["VmRSS"]
            except (OSError, KeyError):
                return
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), rss)
            self.samples += 1
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def reset_hwm(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def post_batch(http: httpx.Client, files: list[Path], task: str, concurrency: int) -> dict[str, Any]:
    handles = [p.open("rb") for p in files]
    try:
        r = http.post(UPLOAD_ASYNC, data={"task_id": task, "concurrency": str(concurrency)},
                      files=[("files", (p.name, h, "image/png")) for p, h in zip(files, handles, strict=True)])
    finally:
        for h in handles:
            h.close()
    if r.status_code == 404:
        raise EndpointMissing(f"POST {UPLOAD_ASYNC} answered 404: async upload batches are not "
                              "implemented in this build yet (SPEC §6.3/§7)")
    if r.status_code != 202:
        raise RuntimeError(f"POST {UPLOAD_ASYNC} answered {r.status_code}: {r.text[:500]}")
    return r.json()


def wait_job(http: httpx.Client, job: dict[str, Any], deadline: float) -> dict[str, Any]:
    state = job
    while state.get("status") not in TERMINAL:
        if time.monotonic() >= deadline:
            raise RuntimeError(f"job {job['job_id']} not finished in time (last {state.get('status')})")
        r = http.get(job["poll_url"], params={"wait": 10})
        r.raise_for_status()
        state = r.json()
    return state


def make_files(work: Path, count: int, size: int) -> list[Path]:
    folder = work / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(count):
        path = folder / f"noise-{i:04d}.png"
        path.write_bytes(harness.noise_png(size, seed=i))
        files.append(path)
    return files


def measure(args: argparse.Namespace, server: harness.Proc, api_key: str, files: list[Path],
            warm: list[Path]) -> dict[str, Any]:
    deadline = time.monotonic() + args.max_seconds
    base_url = f"http://{harness.HOST}:{server.port}"  # type: ignore[attr-defined]
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"},
                      timeout=httpx.Timeout(300, connect=10)) as http:
        wait_job(http, post_batch(http, warm, args.task, args.concurrency), deadline)
        time.sleep(0.5)
        before = server.memory_kb()
        hwm_reset = reset_hwm(server.pid)
        sampler = RssSampler(server)
        sampler.start()
        sampler.phase = "upload"
        foreign = harness.ForeignCpu(server).start()
        started = time.perf_counter()
        job = post_batch(http, files, args.task, args.concurrency)
        accepted = time.perf_counter()
        after_upload = server.memory_kb()
        sampler.phase = "job"
        state = wait_job(http, job, deadline)
        finished = time.perf_counter()
        foreign.stop()
        sampler.stop()
        after = server.memory_kb()
        result = http.get(f"/v1/jobs/{job['job_id']}/result")
        body = result.json() if result.status_code == 200 else {}
    total_bytes = sum(p.stat().st_size for p in files)
    base = before["VmRSS"]
    upload_peak = max(sampler.peaks.get("upload", 0), after_upload["VmRSS"])
    job_peak = max(sampler.peaks.get("job", 0), after["VmRSS"])
    growth_upload = (upload_peak - base) / 1024
    return {
        "files": len(files), "upload_mb": round(total_bytes / MiB, 1),
        "upload_s": round(accepted - started, 2),
        "upload_mb_per_s": round(total_bytes / MiB / (accepted - started), 1),
        "job_s": round(finished - accepted, 2), "job_status": state.get("status"),
        "item_count": body.get("item_count"), "ok_count": body.get("ok_count"),
        "error_count": body.get("error_count"),
        "rss_before_mb": round(base / 1024, 1),
        "peak_rss_upload_mb": round(upload_peak / 1024, 1),
        "peak_rss_job_mb": round(job_peak / 1024, 1),
        "rss_after_mb": round(after["VmRSS"] / 1024, 1),
        "growth_upload_mb": round(growth_upload, 1),
        "growth_job_mb": round((job_peak - base) / 1024, 1),
        "hwm_reset": hwm_reset,
        "hwm_after_upload_growth_mb": round((after_upload["VmHWM"] - base) / 1024, 1) if hwm_reset else None,
        "hwm_end_growth_mb": round((after["VmHWM"] - base) / 1024, 1) if hwm_reset else None,
        "rss_samples": sampler.samples, "foreign_cpu_cores": foreign.foreign_cores,
        "goal_upload_growth_lt_100mb": growth_upload < 100,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=200)
    p.add_argument("--file-mb", type=float, default=2.0)
    p.add_argument("--task", default="receipt_fields_v1")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--max-request-mb", type=int, default=1024, help="MAX_REQUEST_BYTES for the server")
    p.add_argument("--max-seconds", type=float, default=600.0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with harness.workdir("upload") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        files = make_files(work, args.files, int(args.file_mb * MiB))
        warm = [work / "warm-0.png", work / "warm-1.png"]
        for i, path in enumerate(warm):
            path.write_bytes(harness.small_png(seed=10**6 + i))
        print(f"generated {len(files)} PNGs ({sum(p.stat().st_size for p in files) / MiB:.0f} MiB)"
              f" in {time.perf_counter() - t0:.1f} s")
        env = harness.base_env(work, INFERENCE_BACKEND="mock",
                               MAX_REQUEST_BYTES=str(args.max_request_mb * MiB))
        harness.prepare_database(env, work)
        api_key = harness.create_admin_key(env, work)
        with harness.orchestrator(env, work) as server:
            try:
                report = measure(args, server, api_key, files, warm)
            except EndpointMissing as exc:
                print(f"upload_memory: {exc}", file=sys.stderr)
                return 2
    report = {"bench": "upload_memory", **harness.machine(), "task": args.task,
              "concurrency": args.concurrency, **report}
    print(f"one request, {report['files']} files, {report['upload_mb']} MiB: upload "
          f"{report['upload_s']} s ({report['upload_mb_per_s']} MiB/s), job {report['job_status']} "
          f"{report['ok_count']}/{report['item_count']} ok in {report['job_s']} s")
    print(f"server RSS: before {report['rss_before_mb']} MiB; peak during upload "
          f"{report['peak_rss_upload_mb']} (+{report['growth_upload_mb']}); peak during job "
          f"{report['peak_rss_job_mb']} (+{report['growth_job_mb']}); VmHWM growth "
          f"{report['hwm_end_growth_mb']} -> goal < 100 MB during upload "
          f"{'met' if report['goal_upload_growth_lt_100mb'] else 'NOT met'}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
