"""Use case: site text in → description, production class, goods and equipment matched to
the caller's catalogs, cost, and the ``db_payload`` a downstream writer stores (SPEC §9)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
import numpy as np

from application.analyze_site_types import (
    PRODCLASS_VERIFICATION_CALL,
    SITE_TEXT_EMBED_CHARS,
    AnalyzeCommand,
    AnalyzeConfig,
    SiteWarning,
)
from application.billing import BillingService
from application.ports.artifact_index import ArtifactIndex, IndexEntry
from application.ports.blobs import BlobStore
from application.ports.chat import ChatMessage, ChatModel, ModelCall
from application.site_costs import request_cost
from application.site_embeddings import EmbeddingCache
from application.site_response import build_response
from domain.artifacts import ArtifactKind, artifact_rel
from domain.auth import Principal
from domain.cost import PriceTable
from domain.errors import ArtifactExistsError, DomainError, InvalidInputError
from domain.ids import check_id, day_of, format_ts, new_id, utc_now
from domain.site.answer import SiteAnswer, parse_answer
from domain.site.matching import Catalog, CatalogItem, MatchedItem, match_items
from domain.site.prodclass import load_prodclasses
from domain.site.prodclass_resolution import resolve_prodclass
from domain.site.prompt import SYSTEM_PROMPT, build_user_prompt
from domain.site.similarity import cosine_scores
from domain.site.steel import refine_goods

logger = logging.getLogger("ocr.site")


class SiteAnalyzer:
    def __init__(self, *, chat: ChatModel, embeddings: EmbeddingCache, billing: BillingService, blobs: BlobStore,
                 index: ArtifactIndex, prices: PriceTable, config: AnalyzeConfig,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._chat = chat
        self._embeddings = embeddings
        self._billing = billing
        self._blobs = blobs
        self._index = index
        self._prices = prices
        self._config = config
        self._clock = clock

    async def run(self, cmd: AnalyzeCommand, principal: Principal) -> dict[str, Any]:
        if not cmd.text_par.strip():
            raise InvalidInputError("text_par is empty", details={"field": "text_par"})
        check_id(cmd.request_id, "request_id")
        started, created_at = time.perf_counter(), self._clock()
        calls: list[ModelCall] = []
        timings: dict[str, int] = {}
        warnings: list[SiteWarning] = []
        billing = asyncio.create_task(self._billing.summary_within(self._config.billing_wait_s))
        try:
            body = await self._analyze(cmd, calls, timings, warnings, started)
        except DomainError as exc:
            exc.details.setdefault("request_cost", msgspec.to_builtins(
                request_cost(calls, cmd.chat_model, self._prices)))
            if warnings:  # e.g. no class named and no embedding guess because its call failed
                exc.details.setdefault("warnings", msgspec.to_builtins(warnings))
            billing.cancel()
            try:
                await self._store(cmd, principal, created_at, {"error": {
                    "code": exc.code, "message": exc.message, "details": exc.details}})
            except DomainError as store_error:  # the caller still gets the original error
                logger.error("analysis artifact not stored", extra={"event": "artifact_error",
                                                                    "error": store_error.code})
            raise
        body["request_cost"] = msgspec.to_builtins(request_cost(calls, cmd.chat_model, self._prices))
        body["billing_summary"] = await billing
        body["timings"]["total_ms"] = _ms(started)
        await self._store(cmd, principal, created_at, body)
        return body

    async def _analyze(self, cmd: AnalyzeCommand, calls: list[ModelCall], timings: dict[str, int],
                       warnings: list[SiteWarning], started: float) -> dict[str, Any]:
        classes = load_prodclasses()
        user_prompt = build_user_prompt(text_par=cmd.text_par, classes=[(c.id, c.name) for c in classes],
                                        company_name=cmd.company_name, okved=cmd.okved)
        timings["build_prompt_ms"] = _ms(started)
        t0 = time.perf_counter()
        messages = [ChatMessage("system", SYSTEM_PROMPT), ChatMessage("user", user_prompt)]
        site_scores = asyncio.create_task(self._class_scores(cmd, calls, warnings))
        try:
            reply = await self._chat.complete(messages, model=cmd.chat_model, request_id=cmd.request_id)
        except DomainError as exc:
            calls.extend(msgspec.convert(c, ModelCall) if isinstance(c, dict) else c for c in exc.details.pop("calls", []))
            site_scores.cancel()
            raise
        calls.extend(reply.calls)
        timings["llm_ms"] = _ms(t0)
        t0 = time.perf_counter()
        answer = parse_answer(reply.text)
        timings["parse_ms"] = _ms(t0)
        resolution = resolve_prodclass(answer.prodclass_raw, answer.prodclass_score, await site_scores,
                                       self._config.prodclass)
        # Scans the whole site text: off the event loop, so a long text stalls nothing else.
        goods = await asyncio.to_thread(refine_goods, answer.goods_type, company_name=cmd.company_name,
                                        okved=cmd.okved, description=answer.description, text=cmd.text_par)
        (description_vector, t_desc), (goods_items, goods_info, t_goods), (equipment_items, equip_info, t_eq) = \
            await asyncio.gather(
                self._timed_description(answer, cmd, calls),
                self._enrich(goods, cmd.goods_catalog, cmd, calls),
                self._enrich(answer.equipment, cmd.equipment_catalog, cmd, calls),
            )
        timings.update(description_embed_ms=t_desc, goods_enrich_ms=t_goods, equipment_enrich_ms=t_eq)
        return build_response(cmd=cmd, prompt=user_prompt, reply_text=reply.text, answer=answer, goods=goods,
                              resolution=resolution, description_vector=description_vector,
                              goods_items=goods_items, equipment_items=equipment_items,
                              catalog_info={"goods": goods_info, "equipment": equip_info}, timings=timings,
                              warnings=warnings)

    async def _class_scores(self, cmd: AnalyzeCommand, calls: list[ModelCall],
                            warnings: list[SiteWarning]) -> np.ndarray | None:
        """The class scores of the site text, or None when its embedding failed: an optional
        step, so the analysis goes on without a guess or a verify score (ADR 0073)."""
        try:
            names = [c.name for c in load_prodclasses()]
            class_vectors = await self._embeddings.cached(names, model=cmd.embed_model, calls=calls,
                                                          request_id=cmd.request_id)
            site = await self._embeddings.embed([cmd.text_par[:SITE_TEXT_EMBED_CHARS]], model=cmd.embed_model,
                                                calls=calls, request_id=cmd.request_id)
        except DomainError as exc:
            warnings.append(SiteWarning(call=PRODCLASS_VERIFICATION_CALL, kind="embeddings", model=cmd.embed_model,
                                        code=exc.code, message=exc.message,
                                        retryable=bool(exc.details.get("retryable", False))))
            logger.warning("prodclass verification embedding failed; going on without it", extra={
                "event": "site_step_degraded", "call": PRODCLASS_VERIFICATION_CALL, "error": exc.code})
            return None
        return cosine_scores(site[0], class_vectors)

    async def _timed_description(self, answer: SiteAnswer, cmd: AnalyzeCommand,
                                 calls: list[ModelCall]) -> tuple[list[float] | None, int]:
        t0 = time.perf_counter()
        if not answer.description.strip():
            return None, _ms(t0)
        vectors = await self._embeddings.embed([answer.description], model=cmd.embed_model, calls=calls,
                                               request_id=cmd.request_id)
        return vectors[0].tolist(), _ms(t0)

    async def _enrich(self, items: list[str], catalog_items: list[CatalogItem], cmd: AnalyzeCommand,
                      calls: list[ModelCall]) -> tuple[list[MatchedItem], dict[str, int], int]:
        t0 = time.perf_counter()
        info = {"size": len(catalog_items), "vectors_used": 0, "names_embedded": 0, "dimension_mismatches": 0}
        if not items:
            return [], info, _ms(t0)
        vectors = await self._embeddings.embed(items, model=cmd.embed_model, calls=calls, request_id=cmd.request_id)
        catalog = None
        if catalog_items:
            catalog = Catalog.build(catalog_items, dim=vectors.shape[1])
            names = catalog.names_to_embed()
            if names:
                name_vectors = await self._embeddings.cached(names, model=cmd.embed_model, calls=calls,
                                                             request_id=cmd.request_id)
                catalog = catalog.with_name_vectors(name_vectors)
            info.update(vectors_used=catalog.vectors_used, names_embedded=catalog.names_embedded,
                        dimension_mismatches=catalog.dimension_mismatches)
        return match_items(items, vectors, catalog, self._config.matching), info, _ms(t0)

    async def _store(self, cmd: AnalyzeCommand, principal: Principal, created_at: datetime,
                     body: dict[str, Any]) -> None:
        """An artifact for every call, failures too; catalogs are summarised, never their vectors.
        A retried call (same request id) gets a suffixed artifact id: nothing is overwritten and a
        retry is never answered 409 (ADR 0006)."""
        artifact = {"request_id": cmd.request_id, "created_at": format_ts(created_at),
                    "auth": {"key_id": principal.key_id, "role": principal.role},
                    "input": {"pars_id": cmd.pars_id, "company_id": cmd.company_id, "company_name": cmd.company_name,
                              "okved": cmd.okved, "chat_model": cmd.chat_model, "embed_model": cmd.embed_model,
                              "text_par_len": len(cmd.text_par),
                              "goods_catalog": [{"id": i.id, "name": i.name} for i in cmd.goods_catalog],
                              "equipment_catalog": [{"id": i.id, "name": i.name} for i in cmd.equipment_catalog]},
                    "result": body}
        data = msgspec.json.encode(artifact)
        artifact_id = cmd.request_id
        for _ in range(3):
            if await self._index.get(ArtifactKind.ANALYSIS, artifact_id) is None:
                rel = artifact_rel(ArtifactKind.ANALYSIS, artifact_id, created_at)
                try:
                    await self._blobs.put(rel, data)
                    await self._index.add(IndexEntry(kind=ArtifactKind.ANALYSIS, artifact_id=artifact_id,
                                                     owner_key_id=principal.key_id, day=day_of(created_at),
                                                     rel_ref=rel, created_at=created_at))
                    return
                except ArtifactExistsError:
                    pass
            artifact_id = f"{cmd.request_id[:110]}-{new_id()[:12]}"
        raise ArtifactExistsError("could not find a free artifact id for this analysis")


def _ms(since: float) -> int:
    return int((time.perf_counter() - since) * 1000)
