"""What every scripted HTTP test server here shares: a threaded stdlib server on 127.0.0.1,
per-endpoint queues of scripted behaviours, the recorded requests, and the lifecycle."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from tests.support.services import free_port


class OwnedServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: Any  # the ScriptedServer whose handler answers


class ScriptedServer:
    handler: type[BaseHTTPRequestHandler]
    thread_name = "scripted-test-server"

    def __init__(self, host: str, port: int | None, endpoints: Iterable[str]) -> None:
        self.host = host
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Any]] = {e: deque() for e in endpoints}
        self._requests: list[Any] = []
        self._stopping = threading.Event()
        self._httpd: OwnedServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def script(self, *behaviours: Any, endpoint: str = "chat") -> Self:
        """Queue behaviours for the next requests to ``endpoint`` (then default answers)."""
        with self._lock:
            self._queues[endpoint].extend(behaviours)
        return self

    def reset(self) -> None:
        with self._lock:
            for queue in self._queues.values():
                queue.clear()
            self._requests.clear()

    @property
    def requests(self) -> list[Any]:
        with self._lock:
            return list(self._requests)

    def pending(self, endpoint: str = "chat") -> int:
        with self._lock:
            return len(self._queues[endpoint])

    def _record(self, request: Any) -> None:
        with self._lock:
            self._requests.append(request)

    def _next(self, endpoint: str) -> Any | None:
        with self._lock:
            queue = self._queues[endpoint]
            return queue.popleft() if queue else None

    def start(self) -> Self:
        self._stopping.clear()
        self._httpd = OwnedServer((self.host, self.port), self.handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
