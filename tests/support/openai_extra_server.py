"""A real OpenAI-compatible HTTP server for the site-analysis adapters' tests: chat completions
(OpenAI flavour: cached-token usage, parameters a model refuses), embeddings and the
organization Costs API, on 127.0.0.1 in a background thread.

In-process::

    with OpenAIExtraServer(dim=8) as server:
        server.refuse("gpt-5-mini", "temperature")              # 400 unsupported_value
        server.set_costs([[0.5, 0.25], [1.0]], page_size=1)     # 2 daily buckets, 1 per page
        server.script(rate_limited("1"), endpoint="embeddings") # then normal answers
        server.fail_input(site_text, status(503))              # every embedding of that text
        ...
        server.requests_to("costs")[0].query["project_ids"]     # repeated params as a list

Behaviours (``Status``, ``Delay``, ``Drop``, ``RawBody``, ``Reply``) are the ones of
``tests.support.openai_server``. As a process: ``python -m tests.support.openai_extra_server
--port 8012`` (no scripting; default answers).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.openai_server import Delay, Drop, RawBody, Reply, Status
from tests.support.scripted_server import OwnedServer, ScriptedServer

ENDPOINTS = {
    ("POST", "/chat/completions"): "chat",
    ("POST", "/embeddings"): "embeddings",
    ("GET", "/organization/costs"): "costs",
    ("GET", "/models"): "models",
}
PREFIXES = ("/v1", "/compat/openai")
COSTS_MAX_LIMIT = 180
DAY = 86_400

_REFUSALS = {
    "temperature": (
        "Unsupported value: 'temperature' does not support 0.0 with this model. "
        "Only the default (1) value is supported.",
        "unsupported_value",
    ),
    "max_tokens": (
        "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "unsupported_parameter",
    ),
}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # without the query
    endpoint: str
    headers: dict[str, str]  # lower-cased names
    query: dict[str, list[str]]
    body: Any


def openai_error(status: int, message: str, *, param: str | None = None,
                 code: str | None = None, kind: str = "invalid_request_error") -> Status:
    return Status(status, {"error": {"message": message, "type": kind, "param": param,
                                     "code": code}})


def fake_vector(text: str, dim: int) -> list[float]:
    """Deterministic unit vector for ``text`` (unrelated texts are nearly orthogonal)."""
    raw: list[float] = []
    counter = 0
    while len(raw) < dim:
        digest = hashlib.blake2b(f"{counter}:{text}".encode(), digest_size=64).digest()
        raw.extend(v / 2**31 - 1.0 for v in struct.unpack("<16I", digest))
        counter += 1
    vec = raw[:dim]
    norm = math.sqrt(sum(x * x for x in vec)) or 1.0
    return [round(x / norm, 7) for x in vec]


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: OwnedServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _send(self, code: int, body: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (timeout)
            self.close_connection = True

    def _json(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(code, json.dumps(payload).encode(), headers=headers)

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        split = urlsplit(self.path)
        route = next((split.path[len(p):] for p in PREFIXES if split.path.startswith(p + "/")), "")
        endpoint = ENDPOINTS.get((method, route))
        owner = self.server.owner
        if endpoint is None:
            self._json(404, {"error": {"message": f"no route {method} {split.path}",
                                       "type": "invalid_request_error", "param": None,
                                       "code": "unknown_url"}})
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = parse_qs(split.query, keep_blank_values=True)
        owner._record(Recorded(method, split.path, endpoint, headers, query, body))
        behaviour = owner._next(endpoint)
        if isinstance(behaviour, Drop):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if isinstance(behaviour, Delay):
            if owner._stopping.wait(behaviour.seconds):
                self.close_connection = True
                return
            behaviour = None
        if isinstance(behaviour, Status):
            if isinstance(behaviour.body, str):
                self._send(behaviour.status, behaviour.body.encode(), "text/plain",
                           behaviour.headers)
            else:
                self._json(behaviour.status, behaviour.body, behaviour.headers)
            return
        if isinstance(behaviour, RawBody):
            self._send(behaviour.status, behaviour.body.encode(), behaviour.content_type)
            return
        status, payload = getattr(owner, f"_{endpoint}")(body, query, behaviour)
        self._json(status, payload)


class OpenAIExtraServer(ScriptedServer):
    thread_name = "openai-extra-test-server"

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *, dim: int = 16,
                 answer_model: str | None = None, cached_tokens: int = 0) -> None:
        super().__init__(host, port, ENDPOINTS.values())
        self.dim = dim
        self.answer_model = answer_model  # what chat answers say served them (None: as asked)
        self.cached_tokens = cached_tokens
        self.shuffle_embeddings = False  # answer embeddings in reverse order (index still right)
        self.chat_content: str | None = None  # None: a template answer built from the prompt
        self._refused: dict[str, dict[str, str]] = {}
        self._failing_inputs: dict[str, Status] = {}
        self._buckets: list[dict[str, Any]] = []
        self._page_size = 7

    # --- configuration --------------------------------------------------------------------

    def refuse(self, model: str, *params: str, style: str = "openai") -> OpenAIExtraServer:
        """Answer 400 to ``model`` while the request holds one of ``params``. ``style``:
        ``openai`` (``param`` + ``code`` fields) or ``message`` (only the message says it)."""
        with self._lock:
            self._refused.setdefault(model, {}).update({p: style for p in params})
        return self

    def fail_input(self, text: str, answer: Status) -> OpenAIExtraServer:
        """Answer ``answer`` to every embeddings request with ``text`` among its inputs (one
        call of several can fail, however the client orders or retries its calls)."""
        with self._lock:
            self._failing_inputs[text] = answer
        return self

    def set_costs(self, buckets: list[list[float | tuple[float, str]]], *, page_size: int = 7,
                  start_time: int = 1_767_225_600) -> OpenAIExtraServer:
        """Daily buckets; each holds result amounts, optionally ``(amount, project_id)``."""
        made = []
        for day, amounts in enumerate(buckets):
            results = []
            for item in amounts:
                value, project = item if isinstance(item, tuple) else (item, None)
                results.append({"object": "organization.costs.result",
                                "amount": {"value": value, "currency": "usd"},
                                "line_item": None, "project_id": project})
            begin = start_time + day * DAY
            made.append({"object": "bucket", "start_time": begin, "end_time": begin + DAY,
                         "results": results})
        with self._lock:
            self._buckets, self._page_size = made, page_size
        return self

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._refused.clear()
            self._failing_inputs.clear()
            self._buckets, self._page_size = [], 7
        self.shuffle_embeddings, self.chat_content, self.cached_tokens = False, None, 0

    def requests_to(self, endpoint: str) -> list[Recorded]:
        return [r for r in self.requests if r.endpoint == endpoint]

    # --- endpoints ------------------------------------------------------------------------

    def _models(self, body: Any, query: Any, behaviour: Any) -> tuple[int, Any]:
        return 200, {"object": "list", "data": [{"id": self.answer_model or "gpt-4o",
                                                 "object": "model", "owned_by": "system"}]}

    def _chat(self, body: Any, query: Any, behaviour: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return 400, {"error": {"message": "'messages' is required", "param": "messages",
                                   "type": "invalid_request_error", "code": None}}
        model = str(body.get("model"))
        with self._lock:
            refused = dict(self._refused.get(model, {}))
        for param, style in refused.items():
            if param in body:
                message, code = _REFUSALS.get(
                    param, (f"Unsupported parameter: '{param}' is not supported with this model.",
                            "unsupported_parameter"))
                error: dict[str, Any] = {"message": message, "type": "invalid_request_error",
                                         "param": param, "code": code}
                if style == "message":
                    error.update(param=None, code=None)
                return 400, {"error": error}
        prompt = "\n".join(str(m.get("content", "")) for m in body["messages"])
        if isinstance(behaviour, Reply) and behaviour.content is not None:
            content = behaviour.content
        elif self.chat_content is not None:
            content = self.chat_content
        else:
            content = default_answer(body["messages"])
        prompt_tokens = _tokens(prompt)
        completion_tokens = _tokens(json.dumps(content, ensure_ascii=False))
        return 200, {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": self.answer_model or model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content,
                                                 "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens,
                      "prompt_tokens_details": {"cached_tokens": min(self.cached_tokens,
                                                                     prompt_tokens),
                                                "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0}},
            "system_fingerprint": "fp_test",
        }

    def _embeddings(self, body: Any, query: Any, behaviour: Any) -> tuple[int, Any]:
        inputs = body.get("input") if isinstance(body, dict) else None
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(
                isinstance(t, str) and t for t in inputs):
            return 400, {"error": {"message": "'$.input' is invalid.", "param": None,
                                   "type": "invalid_request_error", "code": None}}
        with self._lock:
            failing = [answer for text, answer in self._failing_inputs.items() if text in inputs]
        if failing:
            return failing[0].status, failing[0].body
        dim = body.get("dimensions") or self.dim
        data = [{"object": "embedding", "index": i, "embedding": fake_vector(t, dim)}
                for i, t in enumerate(inputs)]
        if self.shuffle_embeddings:
            data.reverse()
        tokens = sum(_tokens(t) for t in inputs)
        return 200, {"object": "list", "data": data, "model": body.get("model"),
                     "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    def _costs(self, body: Any, query: dict[str, list[str]], behaviour: Any) -> tuple[int, Any]:
        try:
            limit = int(query.get("limit", ["7"])[-1])
            start = int(query["start_time"][-1])
        except (KeyError, ValueError):
            return 400, {"error": {"message": "start_time is required", "param": "start_time",
                                   "type": "invalid_request_error", "code": None}}
        if not 1 <= limit <= COSTS_MAX_LIMIT:
            return 400, {"error": {"message": f"limit must be 1..{COSTS_MAX_LIMIT}",
                                   "param": "limit", "type": "invalid_request_error",
                                   "code": None}}
        projects = set(query.get("project_ids", []))
        offset = int((query.get("page") or ["page_0"])[-1].removeprefix("page_"))
        with self._lock:
            buckets = [b for b in self._buckets if b["start_time"] >= start]
            size = min(limit, self._page_size)
        page = []
        for bucket in buckets[offset:offset + size]:
            results = [r for r in bucket["results"]
                       if not projects or r["project_id"] in projects]
            page.append({**bucket, "results": results})
        more = offset + size < len(buckets)
        return 200, {"object": "page", "data": page, "has_more": more,
                     "next_page": f"page_{offset + size}" if more else None}

OpenAIExtraServer.handler = _Handler


def default_answer(messages: list[Any]) -> str:
    """What the mock chat model would answer to these messages (a parseable template)."""
    from adapters.chat.mock_answer import compose_answer

    users = [m.get("content", "") for m in messages if isinstance(m, dict)
             and m.get("role") == "user"]
    return compose_answer(str(users[-1]) if users else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="OpenAI chat/embeddings/costs test server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dim", type=int, default=16)
    args = parser.parse_args(argv)
    server = OpenAIExtraServer(args.host, args.port, dim=args.dim)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    server.start()
    print(f"openai extra test server listening on {server.base_url}", flush=True)
    stopped.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
