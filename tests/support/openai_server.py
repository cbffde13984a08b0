"""A real OpenAI-compatible HTTP server for tests: stands in for vLLM over the wire.

In-process::

    with OpenAIServer() as server:            # 127.0.0.1, free port, background thread
        server.script(rate_limited("1"), ok())   # per-request behaviours for chat completions
        client = VllmInferenceClient(http, base_url=server.base_url, model=server.model)
        ...
        server.chat_requests[0].body           # what the client sent (parsed JSON)

As a process (e2e)::

    python -m tests.support.openai_server --port 8011 [--model M] [--host H]

and script it over HTTP: ``POST /__control/script`` with
``{"endpoint": "chat"|"models", "behaviours": [{"kind": "status", "status": 503}, ...]}``,
``GET /__control/requests``, ``POST /__control/reset``.

With nothing scripted, chat completions answer with a schema-valid JSON object
(``sample_for_schema`` of the request's response_format schema, seeded by X-Request-ID).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.scripted_server import OwnedServer, ScriptedServer

CONTROL = "/__control"


# --- behaviours -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """200 chat completion. ``content`` None = schema-valid sample; str or list of parts as given."""

    content: Any = None
    finish_reason: str = "stop"
    kind: str = "reply"


@dataclass(frozen=True)
class Status:
    """Any status with a JSON (dict/list) or text body and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = "status"


@dataclass(frozen=True)
class Delay:
    """Sleep (longer than the client's read timeout), then answer normally if anyone still listens."""

    seconds: float
    kind: str = "delay"


@dataclass(frozen=True)
class Drop:
    """Read the request, then close the connection without a byte of answer."""

    kind: str = "drop"


@dataclass(frozen=True)
class RawBody:
    """Exactly these bytes as the body (e.g. not JSON at all)."""

    body: str
    status: int = 200
    content_type: str = "application/json"
    kind: str = "raw"


@dataclass(frozen=True)
class Trickle:
    """A 200 chat completion whose body arrives one byte every ``interval_s``: each gap stays
    under the client's read timeout while the whole answer takes minutes."""

    interval_s: float = 0.2
    content: Any = None
    kind: str = "trickle"


Behaviour = Reply | Status | Delay | Drop | RawBody | Trickle
_KINDS: dict[str, type] = {
    "reply": Reply,
    "status": Status,
    "delay": Delay,
    "drop": Drop,
    "raw": RawBody,
    "trickle": Trickle,
}


def behaviour_from_json(data: dict[str, Any]) -> Behaviour:
    return _KINDS[data.get("kind", "reply")](**data)


def ok(content: Any = None) -> Reply:
    return Reply(content)


def status(code: int, body: Any = None, headers: dict[str, str] | None = None) -> Status:
    if body is None:
        body = {
            "object": "error",
            "message": f"scripted {code}",
            "type": "ServerError",
            "param": None,
            "code": code,
        }
    return Status(code, body, dict(headers or {}))


def rate_limited(retry_after: str | None = "1") -> Status:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return status(429, headers=headers)


def overflow(
    prompt_len: int | None = 9597, max_len: int | None = 4096, message: str | None = None
) -> Status:
    """vLLM's real 400 for a prompt over the context window."""
    if message is None:
        message = (
            f"The decoder prompt (length {prompt_len}) is longer than the maximum model length "
            f"of {max_len}. Make sure that `max_model_len` is no smaller than the number of text "
            "tokens plus multimodal tokens. For image inputs, the number of image tokens depends "
            "on the number of images, and possibly their aspect ratios as well."
        )
    body = {
        "object": "error",
        "message": message,
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
    return Status(400, body)


def delay(seconds: float) -> Delay:
    return Delay(seconds)


def drop() -> Drop:
    return Drop()


def trickle(interval_s: float = 0.2) -> Trickle:
    return Trickle(interval_s)


def not_json_body() -> RawBody:
    return RawBody('{"id": "chatcmpl-x", "choices": [ <truncated')


def fenced(obj: Any) -> Reply:
    return Reply("Here is the data:\n```json\n" + json.dumps(obj) + "\n```")


# --- recording ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or None

    def image(self) -> tuple[str, bytes]:
        """(mime type, bytes) of the image data URI in a chat request."""
        url = self.body["messages"][0]["content"][1]["image_url"]["url"]
        head, _, data = url.partition(",")
        return head.removeprefix("data:").removesuffix(";base64"), base64.b64decode(data)


def _schema_of(body: Any) -> dict[str, Any] | None:
    fmt = body.get("response_format") if isinstance(body, dict) else None
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema")
    return fmt.get("schema")


def default_content(body: Any, seed: str) -> str:
    from domain.receipts.samples import sample_for_schema

    schema = _schema_of(body)
    return json.dumps(sample_for_schema(schema, seed=seed) if schema else {}, ensure_ascii=False)


# --- server ---------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: OwnedServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _send(
        self,
        code: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (timeout) — nothing to answer to
            self.close_connection = True

    def _json(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(code, json.dumps(payload).encode(), headers=headers)

    def _trickle(self, body: bytes, interval_s: float) -> None:
        stopping = self.server.owner._stopping
        self.close_connection = True  # unless the whole body went out (below)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(len(body)):
                if stopping.wait(interval_s):
                    return
                self.wfile.write(body[i : i + 1])
        except OSError:  # the client gave up (its deadline) — stop sending
            return
        self.close_connection = False

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        body = self._read_body()
        path = self.path.split("?", 1)[0]
        owner = self.server.owner
        if path.startswith(CONTROL):
            self._control(method, path.removeprefix(CONTROL), body)
            return
        endpoint = {"/v1/models": "models", "/v1/chat/completions": "chat"}.get(path)
        if endpoint is None or (endpoint == "models") != (method == "GET"):
            self._json(
                404,
                {
                    "object": "error",
                    "message": f"no route {method} {path}",
                    "type": "NotFoundError",
                    "param": None,
                    "code": 404,
                },
            )
            return
        owner._record(
            RecordedRequest(method, path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        behaviour = owner._next(endpoint)
        self._perform(endpoint, behaviour, body)

    def _perform(self, endpoint: str, behaviour: Behaviour | None, body: Any) -> None:
        owner = self.server.owner
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
            payload = behaviour.body
            if isinstance(payload, str):
                self._send(behaviour.status, payload.encode(), "text/plain", behaviour.headers)
            else:
                self._json(behaviour.status, payload, behaviour.headers)
            return
        if isinstance(behaviour, RawBody):
            self._send(behaviour.status, behaviour.body.encode(), behaviour.content_type)
            return
        if isinstance(behaviour, Trickle):
            seed = self.headers.get("X-Request-ID") or ""
            content = behaviour.content if behaviour.content is not None else default_content(body, seed)
            payload = json.dumps(owner.completion_payload(content, "stop")).encode()
            self._trickle(payload, behaviour.interval_s)
            return
        if endpoint == "models":
            self._json(200, owner.models_payload())
            return
        reply = behaviour if isinstance(behaviour, Reply) else Reply()
        seed = self.headers.get("X-Request-ID") or ""
        content = reply.content if reply.content is not None else default_content(body, seed)
        self._json(200, owner.completion_payload(content, reply.finish_reason))

    def _control(self, method: str, path: str, body: Any) -> None:
        owner = self.server.owner
        if method == "POST" and path == "/script":
            items = [behaviour_from_json(b) for b in (body or {}).get("behaviours", [])]
            owner.script(*items, endpoint=(body or {}).get("endpoint", "chat"))
            self._json(200, {"queued": len(items)})
        elif method == "POST" and path == "/reset":
            owner.reset()
            self._json(200, {"ok": True})
        elif method == "GET" and path == "/requests":
            self._json(200, [asdict(r) for r in owner.requests])
        else:
            self._json(404, {"error": "unknown control route"})


class OpenAIServer(ScriptedServer):
    thread_name = "openai-test-server"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        model: str = "test-model",
        max_model_len: int = 4096,
    ) -> None:
        super().__init__(host, port, ("chat", "models"))
        self.model = model
        self.max_model_len = max_model_len

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def models_payload(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": self.model,
                    "object": "model",
                    "created": int(time.time()),
                    "owned_by": "vllm",
                    "root": self.model,
                    "parent": None,
                    "max_model_len": self.max_model_len,
                }
            ],
        }

    def completion_payload(self, content: Any, finish_reason: str) -> dict[str, Any]:
        completion_tokens = max(1, len(json.dumps(content)) // 4)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "tool_calls": []},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                    "stop_reason": None,
                }
            ],
            "usage": {
                "prompt_tokens": 1000,
                "completion_tokens": completion_tokens,
                "total_tokens": 1000 + completion_tokens,
            },
        }


OpenAIServer.handler = _Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="OpenAI-compatible test server (vLLM stand-in)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default="test-model")
    parser.add_argument("--max-model-len", type=int, default=4096)
    args = parser.parse_args(argv)
    server = OpenAIServer(args.host, args.port, model=args.model, max_model_len=args.max_model_len)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    server.start()
    print(f"openai test server listening on {server.base_url}", flush=True)
    stopped.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
