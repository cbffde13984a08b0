"""The shared httpx client for OpenAI-compatible chat, embeddings and the Costs API.

One per process; the composition root creates it, hands it to every adapter of these families
and closes it.
"""

from __future__ import annotations

import httpx


def build_openai_http_client(
    timeout_s: float = 60.0,
    max_connections: int = 50,
    *,
    connect_timeout_s: float = 10.0,
    max_keepalive: int = 20,
    keepalive_expiry_s: float = 30.0,
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s)),
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=min(max_keepalive, max_connections),
            keepalive_expiry=keepalive_expiry_s,
        ),
        follow_redirects=False,
    )
