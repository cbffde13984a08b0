"""A simulated vLLM: an OpenAI-compatible HTTP server with fixed latency and a capacity limit.

    python -m bench.sim_vllm --port 8011 --latency-ms 200 --capacity 32

* ``POST /v1/chat/completions`` answers a real wire-format chat completion whose content is a
  JSON object valid for the request's ``response_format`` JSON Schema, after ``latency-ms``.
  The content is one of ``POOL`` samples per schema (``sample_for_schema``), generated on the
  schema's first use and picked by the ``X-Request-ID``: generating a sample per call cost
  ~2 ms of the simulator's CPU on the benchmark machine, and a wave of 32 answers then left
  the simulator up to ~60 ms late — simulator overhead that the bench would have charged to
  the orchestrator.
* At most ``capacity`` requests are "on the GPU" at once; the rest queue (an
  ``asyncio.Semaphore``), like vLLM's scheduler with ``max_num_seqs``.
* ``GET /v1/models`` lists the model. ``GET /__stats`` gives ``{count, max_concurrency,
  max_waiting, ...}``; ``POST /__stats/reset`` zeroes them (bench control, not OpenAI).
* Calls are also counted per ``X-Request-ID`` as they arrive (a call cut off by a client that
  died still counts: the GPU work was spent): ``/__stats`` adds ``calls``,
  ``unique_request_ids``, ``answered_request_ids`` and ``repeated_request_ids`` (the ids called
  more than once, at most ``REPEATED_SHOWN``); ``GET /__stats/request_ids`` gives every id's count
  and ``GET /__stats/in_flight`` the ids of the calls waiting or in flight right now.

It is a bare asyncio HTTP/1.1 server (keep-alive, Content-Length bodies) rather than a
framework, so that on a 2-core machine it takes as little CPU as possible away from the
orchestrator under test. Only 127.0.0.1 by default.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from domain.receipts.samples import sample_for_schema

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 256 * 1024 * 1024
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 411: "Length Required",
           413: "Payload Too Large", 500: "Internal Server Error"}


@dataclass
class Stats:
    count: int = 0  # chat completions answered
    in_flight: int = 0  # holding a capacity slot
    max_concurrency: int = 0
    waiting: int = 0  # queued for a slot
    max_waiting: int = 0
    models_count: int = 0
    connections: int = 0  # TCP connections accepted (churn shows a client pool too small)
    first_at: float = 0.0
    last_at: float = 0.0
    answer_s: float = 0.0  # summed over calls: slot released -> answer written (simulator overhead)
    arrival_s: float = 0.0  # summed over calls: request head read -> slot taken (parsing, queueing)
    calls: int = 0  # chat completions received (answered or not)
    calls_by_id: dict[str, int] = field(default_factory=dict)  # X-Request-ID -> calls received
    answered_ids: set[str] = field(default_factory=set)  # X-Request-IDs answered at least once
    open_ids: dict[str, int] = field(default_factory=dict)  # X-Request-ID -> calls waiting or in flight now

    def as_dict(self) -> dict[str, Any]:
        repeated = sorted(((n, rid) for rid, n in self.calls_by_id.items() if n > 1), reverse=True)
        return {"count": self.count, "in_flight": self.in_flight,
                "max_concurrency": self.max_concurrency, "waiting": self.waiting,
                "max_waiting": self.max_waiting, "models_count": self.models_count,
                "connections": self.connections, "answer_s": round(self.answer_s, 3),
                "arrival_s": round(self.arrival_s, 3),
                "busy_span_s": round(max(0.0, self.last_at - self.first_at), 3),
                "calls": self.calls, "unique_request_ids": len(self.calls_by_id),
                "answered_request_ids": len(self.answered_ids),
                "repeated_request_ids": {rid: n for n, rid in repeated[:REPEATED_SHOWN]}}


def schema_of(body: Any) -> dict[str, Any] | None:
    fmt = body.get("response_format") if isinstance(body, dict) else None
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema")
    return fmt.get("schema")


POOL = 16
REPEATED_SHOWN = 20


class SimVllm:
    def __init__(self, *, latency_ms: float, capacity: int, model: str, max_model_len: int) -> None:
        self.latency_s = latency_ms / 1000
        self.capacity = capacity
        self.model = model
        self.max_model_len = max_model_len
        self.slots = asyncio.Semaphore(capacity)
        self.stats = Stats()
        self._answers: dict[str, list[str]] = {}

    def answer_for(self, schema: dict[str, Any] | None, seed: str) -> str:
        if not schema:
            return "{}"
        key = json.dumps(schema, sort_keys=True)
        pool = self._answers.get(key)
        if pool is None:
            pool = self._answers[key] = [json.dumps(sample_for_schema(schema, seed=str(i)), ensure_ascii=False)
                                         for i in range(POOL)]
        return pool[zlib.crc32(seed.encode()) % POOL]

    # --- routes ---------------------------------------------------------------------------

    async def route(self, method: str, path: str, headers: dict[str, str], body: bytes
                    ) -> tuple[int, Any]:
        path = path.split("?", 1)[0].rstrip("/")
        if method == "POST" and path == "/v1/chat/completions":
            return await self.chat(headers, body)
        if method == "GET" and path == "/v1/models":
            self.stats.models_count += 1
            return 200, self.models_payload()
        if method == "GET" and path == "/__stats":
            return 200, self.stats.as_dict()
        if method == "GET" and path == "/__stats/request_ids":
            return 200, dict(self.stats.calls_by_id)
        if method == "GET" and path == "/__stats/in_flight":
            return 200, sorted(self.stats.open_ids)
        if method == "POST" and path == "/__stats/reset":
            old = self.stats
            old.count = old.models_count = old.connections = old.calls = 0
            old.calls_by_id.clear()
            old.answered_ids.clear()
            old.max_concurrency, old.max_waiting = old.in_flight, old.waiting
            old.first_at = old.last_at = 0.0
            return 200, {"ok": True}
        if method == "GET" and path in ("/health", "/v1/health"):
            return 200, {"ok": True}
        return 404, error(404, f"no route {method} {path}", "NotFoundError")

    async def chat(self, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        arrived = float(headers.get("x-sim-arrived", 0) or 0) or time.monotonic()
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, error(400, "body is not JSON", "BadRequestError")
        stats = self.stats
        request_id = headers.get("x-request-id", "")
        stats.calls += 1
        stats.calls_by_id[request_id] = stats.calls_by_id.get(request_id, 0) + 1
        stats.open_ids[request_id] = stats.open_ids.get(request_id, 0) + 1
        stats.waiting += 1
        stats.max_waiting = max(stats.max_waiting, stats.waiting)
        queued = True
        try:
            async with self.slots:
                stats.waiting -= 1
                queued = False
                stats.in_flight += 1
                stats.arrival_s += time.monotonic() - arrived
                stats.max_concurrency = max(stats.max_concurrency, stats.in_flight)
                if not stats.first_at:
                    stats.first_at = time.monotonic()
                try:
                    await asyncio.sleep(self.latency_s)
                finally:
                    stats.in_flight -= 1
                    headers["x-sim-released"] = str(time.monotonic())
        finally:
            if queued:  # the client went away while queued
                stats.waiting -= 1
            if stats.open_ids[request_id] > 1:
                stats.open_ids[request_id] -= 1
            else:
                del stats.open_ids[request_id]
        content = self.answer_for(schema_of(body), request_id)
        stats.count += 1
        stats.answered_ids.add(request_id)
        stats.last_at = time.monotonic()
        return 200, self.completion_payload(content)

    def models_payload(self) -> dict[str, Any]:
        return {"object": "list", "data": [{
            "id": self.model, "object": "model", "created": int(time.time()), "owned_by": "vllm",
            "root": self.model, "parent": None, "max_model_len": self.max_model_len}]}

    def completion_payload(self, content: str) -> dict[str, Any]:
        completion_tokens = max(1, len(content) // 4)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content,
                                                  "tool_calls": []},
                         "logprobs": None, "finish_reason": "stop", "stop_reason": None}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": completion_tokens,
                      "total_tokens": 1000 + completion_tokens},
        }

    # --- HTTP/1.1 -------------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                arrived = time.monotonic()
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, version = lines[0].split(" ", 2)
                except ValueError:
                    await respond(writer, 400, error(400, "bad request line", "BadRequestError"),
                                  close=True)
                    return
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    await respond(writer, 411, error(411, "send Content-Length", "BadRequestError"),
                                  close=True)
                    return
                length = int(headers.get("content-length") or 0)
                if length > MAX_BODY_BYTES:
                    await respond(writer, 413, error(413, "body too large", "BadRequestError"),
                                  close=True)
                    return
                body = await reader.readexactly(length) if length else b""
                headers["x-sim-arrived"] = str(arrived)
                close = (headers.get("connection", "").lower() == "close"
                         or version == "HTTP/1.0")
                try:
                    status, payload = await self.route(method, target, headers, body)
                except Exception as exc:  # a bench server must not die on one bad request
                    status, payload = 500, error(500, f"{type(exc).__name__}", "ServerError")
                await respond(writer, status, payload, close=close)
                if "x-sim-released" in headers:
                    self.stats.answer_s += time.monotonic() - float(headers["x-sim-released"])
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()


def error(code: int, message: str, kind: str) -> dict[str, Any]:
    return {"object": "error", "message": message, "type": kind, "param": None, "code": code}


async def respond(writer: asyncio.StreamWriter, status: int, payload: Any, *, close: bool) -> None:
    data = json.dumps(payload).encode()
    head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(data)}\r\n"
            f"connection: {'close' if close else 'keep-alive'}\r\n\r\n")
    writer.write(head.encode("latin-1") + data)
    await writer.drain()


async def serve(args: argparse.Namespace) -> int:
    sim = SimVllm(latency_ms=args.latency_ms, capacity=args.capacity, model=args.model,
                  max_model_len=args.max_model_len)
    server = await asyncio.start_server(sim.handle, args.host, args.port, backlog=1024,
                                        limit=MAX_HEADER_BYTES)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"sim vllm listening on http://{args.host}:{args.port}/v1 latency={args.latency_ms}ms "
          f"capacity={args.capacity}", flush=True)
    async with server:
        await stop.wait()
    print(json.dumps({"sim_vllm_stats": sim.stats.as_dict()}), flush=True)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Simulated vLLM (OpenAI-compatible) for benches")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--capacity", type=int, default=32)
    parser.add_argument("--model", default="sim-model")
    parser.add_argument("--max-model-len", type=int, default=4096)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
