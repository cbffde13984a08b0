"""The analyze use case's response rules (issue 13): integer counts, the chat call's cost beside
the total, item source vs match method, and the optional verification embedding that degrades
(ADR 0073). Real fakes: a chat model with a fixed answer, the mock embedder failing for chosen
texts, local blobs and the in-memory index."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from adapters.blobs.local import LocalBlobStore
from adapters.embeddings.mock import MockEmbedder
from application.analyze_site import SiteAnalyzer
from application.analyze_site_types import AnalyzeCommand, AnalyzeConfig, SiteWarning
from application.billing import BillingConfig, BillingService
from application.ports.chat import ChatMessage, ChatReply, ModelCall, TokenUsage
from application.ports.embeddings import Embeddings
from application.site_costs import request_cost
from application.site_embeddings import EmbeddingCache
from application.site_response import score_error
from domain.auth import Principal
from domain.cost import PriceTable
from domain.errors import DomainError, UpstreamUnavailableError
from domain.site.answer import format_answer
from domain.site.matching import CatalogItem
from domain.site.prodclass_resolution import ProdclassResolution
from tests.support.fakes import InMemoryArtifactIndex

TEXT = "Пекарня «Колос» печёт хлеб и булочки. В цехе работают ротационная печь и тестомес."
PRINCIPAL = Principal(key_id="unit", role="client", scopes=("extract:run",))


def call(kind: str, tokens: int, cached: int = 0, out: int = 0, *, ok: bool = True,
         model: str = "gpt-4o") -> ModelCall:
    return ModelCall(kind=kind, model=model, ok=ok,
                     usage=TokenUsage(input_tokens=tokens, cached_input_tokens=cached, output_tokens=out))


# --- request_cost -------------------------------------------------------------------------------


def test_request_cost_describes_the_chat_call_and_the_total_every_call() -> None:
    prices = PriceTable.load()
    calls = [call("chat", 0, ok=False), call("embeddings", 1500, model="text-embedding-3-large"),
             call("chat", 1000, 200, 300), call("embeddings", 47, model="text-embedding-3-large", ok=False)]
    cost = request_cost(calls, "gpt-4o", prices)
    assert (cost.input_tokens, cost.cached_input_tokens, cost.output_tokens, cost.tokens_total) == (1000, 200, 300, 1300)
    assert cost.cost_usd == prices.call_cost("gpt-4o", 1000, 200, 300).cost_usd == 0.00525
    embeddings = prices.call_cost("text-embedding-3-large", 1500).cost_usd + prices.call_cost(
        "text-embedding-3-large", 47).cost_usd
    assert cost.total_cost_usd == round(cost.cost_usd + embeddings, 8)
    assert [(line.kind, line.ok) for line in cost.request_cost_breakdown] == [
        ("chat", False), ("embeddings", True), ("chat", True), ("embeddings", False)]


def test_request_cost_without_an_answered_chat_call_is_zero_but_the_total_is_not() -> None:
    cost = request_cost([call("chat", 0, ok=False), call("embeddings", 10_000, model="text-embedding-3-small")],
                        "gpt-4o", PriceTable.load())
    assert (cost.input_tokens, cost.cost_usd) == (0, 0.0) and cost.total_cost_usd == 0.0002


# --- PRODCLASS_SCORE_ERROR ----------------------------------------------------------------------


def resolution(score_source: str) -> ProdclassResolution:
    return ProdclassResolution(id=17, title="x", score=0.0, score_source=score_source, source="model_reply",
                               embed_guess_id=None, embed_guess_score=None)


def test_score_error_only_when_the_score_is_not_available() -> None:
    warning = SiteWarning(call="prodclass_verification_embedding", kind="embeddings", model="m",
                          code="upstream_unavailable", message="HTTP 503: busy", retryable=True)
    assert score_error(resolution("model_reply"), [warning]) is None
    assert score_error(resolution("text_embedding_verify"), []) is None
    assert score_error(resolution("not_available"), [warning]) == (
        "prodclass_verification_embedding failed (upstream_unavailable): HTTP 503: busy")
    assert score_error(resolution("not_available"), [])


# --- the use case -------------------------------------------------------------------------------


class FixedChat:
    def __init__(self, text: str) -> None:
        self.text = text

    async def complete(self, messages: list[ChatMessage], *, model: str, request_id: str | None = None) -> ChatReply:
        usage = TokenUsage(input_tokens=1000, cached_input_tokens=0, output_tokens=100)
        return ChatReply(text=self.text, model=model, usage=usage,
                         calls=(ModelCall(kind="chat", model=model, usage=usage, ok=True),))

    async def ping(self) -> None:
        return None


class FailingEmbedder(MockEmbedder):
    """The mock embedder, failing (503, one attempt) for any batch holding one of ``failing``."""

    def __init__(self, *failing: str) -> None:
        super().__init__(dim=32)
        self.failing = set(failing)

    async def embed(self, texts: list[str], *, model: str, request_id: str | None = None) -> Embeddings:
        if self.failing & set(texts):
            failed = ModelCall(kind="embeddings", model=model, usage=TokenUsage(), ok=False)
            raise UpstreamUnavailableError("HTTP 503: busy", details={"retryable": True, "calls": [failed]})
        return await super().embed(texts, model=model, request_id=request_id)


class NoCosts:
    configured = False

    async def spent_usd(self, *, start_time: int, end_time: int | None, project_id: str | None) -> float:
        raise AssertionError("not configured")


def run(tmp_path: Path, answer: str, embedder: FailingEmbedder, **fields: Any) -> dict[str, Any]:
    analyzer = SiteAnalyzer(chat=FixedChat(answer), embeddings=EmbeddingCache(embedder),
                            billing=BillingService(NoCosts(), BillingConfig()), blobs=LocalBlobStore(tmp_path),
                            index=InMemoryArtifactIndex(), prices=PriceTable.load(), config=AnalyzeConfig())
    cmd = AnalyzeCommand(request_id="unit-1", text_par=TEXT, chat_model="gpt-4o", embed_model="mock-32", **fields)
    return asyncio.run(analyzer.run(cmd, PRINCIPAL))


def template(prodclass: str | int = 17, score: float | None = None, goods_type: list[str] | None = None) -> str:
    return format_answer(description="Пекарня выпускает хлеб.", prodclass=prodclass, prodclass_score=score,
                         equipment=["Ротационная печь"], goods=["Хлеб", "Булочки"],
                         goods_type=["Хлеб"] if goods_type is None else goods_type)


def test_counts_are_integers_and_items_name_their_list(tmp_path: Path) -> None:
    body = run(tmp_path, template(goods_type=[]), FailingEmbedder(),
               goods_catalog=[CatalogItem(id=3, name="хлеб")])
    assert body["counts"]["goods_source"] == 2 and body["counts"]["equip_source"] == 1
    assert all(type(v) is int for v in body["counts"].values())
    assert [(i["source"], i["match_method"]) for i in body["goods_items"]][0] == ("GOODS", "exact_catalog_name")
    assert [(i["source"], i["match_method"]) for i in body["equipment_items"]] == [(None, "no_catalog")]
    assert body["parsed"]["EQUIPMENT_RAW"] == body["parsed"]["EQUIPMENT_SITE_RAW"] == "Ротационная печь"
    cost = body["request_cost"]
    assert (cost["input_tokens"], cost["cost_usd"]) == (1000, 0.0035)  # not the embedding tokens
    assert cost["total_cost_usd"] == 0.0035 and cost["unpriced_models"] == ["mock-32"]  # mock embeddings: free


def test_the_site_text_embedding_failing_degrades(tmp_path: Path) -> None:
    body = run(tmp_path, template(), FailingEmbedder(TEXT))
    assert (body["prodclass"]["id"], body["prodclass"]["score"], body["prodclass"]["score_source"]) == (
        17, 0.0, "not_available")
    assert body["parsed"]["PRODCLASS_SCORE_ERROR"].startswith("prodclass_verification_embedding failed")
    assert body["warnings"] == [{"call": "prodclass_verification_embedding", "kind": "embeddings",
                                 "model": "mock-32", "code": "upstream_unavailable", "message": "HTTP 503: busy",
                                 "retryable": True}]
    assert [line["ok"] for line in body["request_cost"]["request_cost_breakdown"]].count(False) == 1


def test_the_class_names_embedding_failing_degrades_too(tmp_path: Path) -> None:
    from domain.site.prodclass import load_prodclasses

    body = run(tmp_path, template(score=0.7), FailingEmbedder(load_prodclasses()[0].name))
    assert body["prodclass"]["score_source"] == "model_reply" and len(body["warnings"]) == 1


@pytest.mark.parametrize("failing", ["Хлеб", "Пекарня выпускает хлеб."])  # goods matching, the description
def test_a_required_embedding_failing_is_an_error(tmp_path: Path, failing: str) -> None:
    with pytest.raises(UpstreamUnavailableError):
        run(tmp_path, template(), FailingEmbedder(failing), goods_catalog=[CatalogItem(id=3, name="Батон")])


def test_no_class_and_no_guess_is_invalid_output_with_the_warning(tmp_path: Path) -> None:
    with pytest.raises(DomainError) as caught:
        run(tmp_path, template(prodclass="нет"), FailingEmbedder(TEXT))
    assert caught.value.code == "invalid_model_output"
    assert caught.value.details["warnings"][0]["call"] == "prodclass_verification_embedding"
