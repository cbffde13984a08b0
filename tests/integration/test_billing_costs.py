"""OpenAICostsSource against a real Costs-API stand-in on 127.0.0.1 (SPEC §9.5)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from adapters.billing.openai_costs import MAX_BUCKETS, OpenAICostsSource
from adapters.openai_http.client import build_openai_http_client
from domain.errors import UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError
from tests.support.openai_extra_server import OpenAIExtraServer
from tests.support.openai_server import Status, delay, not_json_body, status
from tests.support.services import free_port

ADMIN_KEY = "sk-admin-SECRET-31337"
START = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="module")
def extra_server() -> Iterator[OpenAIExtraServer]:
    with OpenAIExtraServer() as server:
        yield server


@pytest.fixture
def server(extra_server: OpenAIExtraServer) -> Iterator[OpenAIExtraServer]:
    extra_server.reset()
    yield extra_server
    extra_server.reset()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = build_openai_http_client(1.0, 10)
    yield client
    await client.aclose()


@pytest.fixture
def make(server: OpenAIExtraServer, http: httpx.AsyncClient) -> Callable[..., OpenAICostsSource]:
    def build(**overrides: Any) -> OpenAICostsSource:
        options: dict[str, Any] = {"base_url": server.base_url, "admin_key": ADMIN_KEY}
        options.update(overrides)
        return OpenAICostsSource(http, **options)

    return build


async def spent(source: OpenAICostsSource, **kwargs: Any) -> float:
    options: dict[str, Any] = {"start_time": START, "end_time": None, "project_id": None}
    options.update(kwargs)
    return await source.spent_usd(**options)


def test_configured_only_with_an_admin_key(make: Callable[..., OpenAICostsSource]) -> None:
    assert make().configured is True
    assert make(admin_key="").configured is False


async def test_unconfigured_never_calls_out(
    server: OpenAIExtraServer, make: Callable[..., OpenAICostsSource]
) -> None:
    with pytest.raises(UpstreamError, match="not configured"):
        await spent(make(admin_key=""))
    assert server.requests == []


async def test_sums_every_page(
    server: OpenAIExtraServer, make: Callable[..., OpenAICostsSource]
) -> None:
    server.set_costs([[0.5, 0.25], [1.0], [], [2.125], [0.1]], page_size=2)
    assert await spent(make()) == pytest.approx(3.975)
    sent = server.requests_to("costs")
    assert len(sent) == 3
    first = sent[0]
    assert first.path == "/v1/organization/costs"
    assert first.headers["authorization"] == f"Bearer {ADMIN_KEY}"
    assert first.query == {"start_time": [str(START)], "bucket_width": ["1d"],
                           "limit": [str(MAX_BUCKETS)]}
    assert [r.query.get("page") for r in sent] == [None, ["page_2"], ["page_4"]]


async def test_a_single_page(server: OpenAIExtraServer, make: Callable[..., OpenAICostsSource]) -> None:
    server.set_costs([[0.5]] * 31, page_size=180)
    assert await spent(make()) == pytest.approx(15.5)
    assert len(server.requests) == 1


async def test_no_costs_is_zero(server: OpenAIExtraServer, make: Callable[..., OpenAICostsSource]) -> None:
    assert await spent(make()) == 0.0


async def test_project_filter_and_end_time_are_sent(
    server: OpenAIExtraServer, make: Callable[..., OpenAICostsSource]
) -> None:
    server.set_costs([[(1.0, "proj_a"), (5.0, "proj_b")], [(0.5, "proj_a")]], page_size=1)
    assert await spent(make(), project_id="proj_a", end_time=START + 2 * 86_400) == 1.5
    for request in server.requests:
        assert request.query["project_ids"] == ["proj_a"]
        assert request.query["end_time"] == [str(START + 2 * 86_400)]


async def test_amounts_as_strings_and_odd_results(
    server: OpenAIExtraServer, make: Callable[..., OpenAICostsSource]
) -> None:
    body = {"object": "page", "has_more": False, "next_page": None, "data": [
        {"results": [{"amount": {"value": "0.75", "currency": "usd"}}, {"amount": None}]},
        {"results": None}, "junk"]}
    server.script(Status(200, body), endpoint="costs")
    assert await spent(make()) == 0.75


async def test_repeated_cursor_stops(
    server: OpenAIExtraServer, make: Callable[..., OpenAICostsSource]
) -> None:
    body = {"data": [], "has_more": True, "next_page": "same"}
    server.script(Status(200, body), Status(200, body), Status(200, body), endpoint="costs")
    with pytest.raises(UpstreamError, match="cursor"):
        await spent(make())
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("code", "error", "retryable"),
    [(429, UpstreamUnavailableError, True), (503, UpstreamUnavailableError, True),
     (504, UpstreamTimeoutError, True), (500, UpstreamError, True),
     (401, UpstreamError, False), (403, UpstreamError, False)],
)
async def test_error_translation(
    server: OpenAIExtraServer, make: Callable[..., OpenAICostsSource],
    code: int, error: type[Exception], retryable: bool,
) -> None:
    server.script(status(code), endpoint="costs")
    with pytest.raises(error) as caught:
        await spent(make())
    assert type(caught.value) is error
    assert caught.value.details["retryable"] is retryable  # type: ignore[attr-defined]
    assert str(code) in str(caught.value)
    assert len(server.requests) == 1  # no retries: the summary is cached and time-boxed


async def test_error_on_a_later_page(
    server: OpenAIExtraServer, make: Callable[..., OpenAICostsSource]
) -> None:
    server.set_costs([[1.0], [2.0]], page_size=1)
    server.script(Status(200, {"data": [], "has_more": True, "next_page": "page_1"}),
                  status(502), endpoint="costs")
    with pytest.raises(UpstreamError):
        await spent(make())


async def test_timeout(server: OpenAIExtraServer, make: Callable[..., OpenAICostsSource]) -> None:
    server.script(delay(3), endpoint="costs")
    with pytest.raises(UpstreamTimeoutError):
        await spent(make())


async def test_unreachable(http: httpx.AsyncClient) -> None:
    source = OpenAICostsSource(http, base_url=f"http://127.0.0.1:{free_port()}",
                               admin_key=ADMIN_KEY)
    assert source.base_url.endswith("/v1")
    with pytest.raises(UpstreamUnavailableError):
        await spent(source)


@pytest.mark.parametrize("body", [not_json_body(), Status(200, {"object": "page"}),
                                  Status(200, {"data": [{"results": [
                                      {"amount": {"value": "lots"}}]}]})])
async def test_malformed(
    server: OpenAIExtraServer, make: Callable[..., OpenAICostsSource], body: Any
) -> None:
    server.script(body, endpoint="costs")
    with pytest.raises(UpstreamError) as caught:
        await spent(make())
    assert caught.value.details["retryable"] is False


async def test_admin_key_never_leaks(
    server: OpenAIExtraServer, make: Callable[..., OpenAICostsSource],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server.script(Status(401, {"error": {"message": f"Invalid admin key {ADMIN_KEY}"}}),
                  endpoint="costs")
    with pytest.raises(UpstreamError) as caught:
        await spent(make())
    assert ADMIN_KEY not in str(caught.value)
    assert "[redacted]" in str(caught.value)
    assert all(ADMIN_KEY not in r.getMessage() and ADMIN_KEY not in str(r.__dict__)
               for r in caplog.records)
