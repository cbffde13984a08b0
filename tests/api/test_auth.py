"""SPEC §5: keys, roles, scopes, revocation, auth off."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from application.api_keys import revoke_api_key
from tests.api.conftest import Api, assert_envelope


def test_missing_key_is_auth_missing(api: Api) -> None:
    r = api.client.get("/v1/me")
    assert_envelope(r, 401, "auth_missing")
    assert r.headers["www-authenticate"] == "Bearer"


def test_unknown_key_and_malformed_header_are_auth_invalid(api: Api) -> None:
    for headers in ({"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "},
                    {"X-API-Key": "nope"}, {"X-API-Key": " "}):
        r = api.client.get("/v1/me", headers=headers)
        assert_envelope(r, 401, "auth_invalid")
        assert r.headers["www-authenticate"] == "Bearer"


def test_bearer_and_x_api_key_both_work(api: Api) -> None:
    for headers in (api.auth("client"), {"X-API-Key": api.keys["client"]}):
        r = api.client.get("/v1/me", headers=headers)
        assert r.status_code == 200
        assert r.json() == {"key_id": "client-key", "role": "client", "scopes": ["extract:run"], "auth_enabled": True}


def test_role_presets(api: Api) -> None:
    scopes = {role: api.client.get("/v1/me", headers=api.auth(role)).json()["scopes"]
              for role in ("client", "debugger", "admin")}
    assert scopes == {"client": ["extract:run"], "debugger": ["extract:run", "debug:run"],
                      "admin": ["extract:run", "debug:run", "debug:read_raw"]}


def test_revoked_key_is_refused(api: Api) -> None:
    asyncio.run(revoke_api_key(api.key_store, key_id="other-client"))
    assert_envelope(api.client.get("/v1/me", headers=api.auth("other")), 401, "auth_invalid")


def test_missing_scope_is_403_with_required_scopes(make_api: Any) -> None:
    api = make_api(debug_mode=True)
    r = api.client.get("/v1/debug/artifacts", headers=api.auth("debugger"))
    error = assert_envelope(r, 403, "forbidden")
    assert error["details"]["required_scopes"] == ["debug:read_raw"]


def test_keys_are_stored_as_hmac_hashes_only(api: Api) -> None:
    records = asyncio.run(api.key_store.list())
    stored = " ".join(f"{r.key_hash} {r.key_id}" for r in records)
    for secret in api.keys.values():
        assert secret not in stored
    assert all(len(r.key_hash) == 64 for r in records)


def test_last_used_is_recorded_without_a_write_per_request(api: Api) -> None:
    writes = []
    original = api.key_store.touch

    async def counting_touch(key_id: str, *, at: Any) -> None:
        writes.append(key_id)
        await original(key_id, at=at)

    api.key_store.touch = counting_touch  # type: ignore[method-assign]
    for _ in range(5):
        assert api.client.get("/v1/me", headers=api.auth("client")).status_code == 200
    assert writes == ["client-key"]
    records = {r.key_id: r for r in asyncio.run(api.key_store.list())}
    assert records["client-key"].last_used_at is not None


def test_auth_disabled_gives_the_anonymous_principal(make_api: Any) -> None:
    api = make_api(auth_enabled=False)
    r = api.client.get("/v1/me")
    assert r.json() == {"key_id": "anonymous", "role": "anonymous", "scopes": [], "auth_enabled": False}
    assert api.client.get("/v1/tasks").status_code == 200


@pytest.mark.parametrize("path", ["/v1/extract", "/v1/extract_async", "/v1/batch_extract", "/v1/analyze/json",
                                  "/v1/ground_truths", "/v1/batch_extract_rerun"])
def test_the_key_is_checked_before_the_body_is_read(api: Api, path: str) -> None:
    """Issue 12: a request without a valid key is a 401 whatever its body — a body that is not
    even JSON is never looked at (it used to be decoded first: 60 MB took ~1 s to reach its 401)."""
    garbage = b"{" * 5000 + b"not json"
    assert_envelope(api.client.post(path, content=garbage, headers={"Content-Type": "application/json"}),
                    401, "auth_missing")
    assert_envelope(api.client.post(path, content=garbage, headers={"Content-Type": "application/json",
                                                                    "X-API-Key": "wrong"}), 401, "auth_invalid")
    # With a valid key the same body is a 400 (or a 422), never a 401 and never a 500.
    r = api.client.post(path, content=garbage, headers={**api.auth(), "Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.text
