"""One extract per request id, and an artifact with its index entry as one idempotent step (ADR
0042): the Extractor against the in-memory index (the same contract as the SQL stores), local
storage on disk and the mock model, with faults injected between the steps."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.blobs.local import LocalBlobStore
from adapters.images.pillow import PillowImageProbe
from adapters.inference.mock import MockInferenceClient
from application.extract import ExtractConfig, Extractor
from application.extract_types import ExtractCommand
from application.inputs import InputStore
from application.ports.artifact_index import PENDING, IndexEntry
from application.ports.inference import InferenceOutcome, InferenceRequest
from application.request_claims import RequestClaims
from domain.artifacts import ArtifactKind, artifact_rel
from domain.auth import Principal, Role, scopes_for
from domain.errors import ArtifactExistsError, ConflictError, StorageUnavailableError
from domain.ids import day_of, utc_now
from domain.receipts.tasks import load_task_registry
from tests.support.fakes import InMemoryArtifactIndex
from tests.support.images import image_bytes

ALICE = Principal(key_id="alice", role="client", scopes=scopes_for(Role.CLIENT))
BOB = Principal(key_id="bob", role="client", scopes=scopes_for(Role.CLIENT))
TASK = "receipt_fields_v1"


class CountingModel:
    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls: list[str] = []
        self._inner = MockInferenceClient()
        self._delay_s = delay_s

    @property
    def model_id(self) -> str:
        return "mock"

    async def complete(self, request: InferenceRequest) -> InferenceOutcome:
        self.calls.append(request.request_id)
        await asyncio.sleep(self._delay_s)
        return await self._inner.complete(request)

    async def ping(self) -> None:
        return None


class FailingIndex(InMemoryArtifactIndex):
    """Completions fail while ``fail_complete`` is set (a dropped connection at the last step)."""

    fail_complete = False

    async def complete(self, kind: str, artifact_id: str, summary: dict[str, Any] | None = None) -> None:
        if self.fail_complete:
            raise StorageUnavailableError("complete artifact: the database is unavailable", retryable=True)
        await super().complete(kind, artifact_id, summary)


class DownBlobs(LocalBlobStore):
    down = False

    async def put(self, rel: str, data: bytes, *, content_type: str = "application/json") -> None:
        if self.down:
            raise StorageUnavailableError("object storage unavailable", retryable=True)
        await super().put(rel, data, content_type=content_type)


class Rig:
    def __init__(self, tmp: Path, *, delay_s: float = 0.0, refresh_s: float = 10.0) -> None:
        self.index = FailingIndex()
        self.blobs = DownBlobs(tmp / "artifacts")
        self.model = CountingModel(delay_s)
        self.claims = RequestClaims(index=self.index, blobs=self.blobs, refresh_s=refresh_s)
        self.extractor = Extractor(
            tasks=load_task_registry(), inference=self.model, blobs=self.blobs, index=self.index,
            images=PillowImageProbe(), inputs=InputStore(self.blobs), claims=self.claims,
            config=ExtractConfig(max_image_bytes=1 << 20, temperature=0.0, max_tokens=512, max_tokens_limit=1024,
                                 debug_mode=False))

    async def run(self, request_id: str, image: bytes | None = None, who: Principal = ALICE,
                  owned: bool = False) -> Any:
        cmd = ExtractCommand(task_id=TASK, request_id=request_id, mime_type="image/png",
                             image_bytes=image or image_bytes(), owned=owned)
        return await self.extractor.run(cmd, who)


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


async def test_concurrent_duplicates_make_one_model_call(tmp_path: Path) -> None:
    rig = Rig(tmp_path, delay_s=0.05)
    outcomes = await asyncio.gather(*(rig.run("dup-1") for _ in range(32)), return_exceptions=True)
    results = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, ArtifactExistsError)]
    assert len(results) == 1 and len(refused) == 31 and rig.model.calls == ["dup-1"]
    entry = await rig.index.get("extract", "dup-1")
    assert entry is not None and entry.state == "complete"


async def test_a_failed_index_completion_is_repaired_by_the_retry_without_a_model_call(rig: Rig) -> None:
    rig.index.fail_complete = True
    with pytest.raises(StorageUnavailableError):
        await rig.run("wedge-1")
    held = await rig.index.get("extract", "wedge-1")
    assert held is not None and held.pending and await rig.blobs.exists(held.rel_ref)
    rig.index.fail_complete = False
    again = await rig.run("wedge-1")
    assert rig.model.calls == ["wedge-1"]  # the stored answer, not a second call
    assert again.artifact_rel == held.rel_ref and again.parsed is not None
    done = await rig.index.get("extract", "wedge-1")
    assert done is not None and done.state == "complete"
    with pytest.raises(ArtifactExistsError):  # answered once: the id is taken now
        await rig.run("wedge-1")


async def test_the_repair_never_answers_for_another_image(rig: Rig) -> None:
    rig.index.fail_complete = True
    with pytest.raises(StorageUnavailableError):
        await rig.run("wedge-2", image_bytes(size=(64, 48)))
    rig.index.fail_complete = False
    with pytest.raises(ArtifactExistsError):
        await rig.run("wedge-2", image_bytes(size=(80, 40)))
    held = await rig.index.get("extract", "wedge-2")
    assert held is not None and held.pending  # a mismatched retry repairs nothing
    repaired = await rig.run("wedge-2", image_bytes(size=(64, 48)))  # the original caller's retry
    assert repaired.parsed is not None and repaired.artifact_rel == held.rel_ref
    assert rig.model.calls == ["wedge-2"]


async def test_a_failed_artifact_write_frees_the_id_for_the_retry(rig: Rig) -> None:
    rig.blobs.down = True
    with pytest.raises(StorageUnavailableError):
        await rig.run("store-down")
    assert await rig.index.get("extract", "store-down") is None  # claim released
    rig.blobs.down = False
    assert (await rig.run("store-down")).error is None
    assert rig.model.calls == ["store-down", "store-down"]


async def claimed_elsewhere(rig: Rig, request_id: str, *, age_s: float, owner: str = "alice") -> IndexEntry:
    at = utc_now() - timedelta(seconds=age_s)
    entry = IndexEntry(kind="extract", artifact_id=request_id, owner_key_id=owner, day=day_of(at),
                       rel_ref=artifact_rel(ArtifactKind.EXTRACT, request_id, at), created_at=at, state=PENDING)
    assert await rig.index.claim(entry) is None
    return entry


async def test_a_live_claim_of_another_process_answers_in_progress(rig: Rig) -> None:
    await claimed_elsewhere(rig, "busy-1", age_s=1)
    with pytest.raises(ConflictError) as caught:
        await rig.run("busy-1")
    assert caught.value.code == "conflict" and caught.value.details == {
        "reason": "in_progress", "request_id": "busy-1", "retryable": True}
    assert rig.model.calls == []


async def test_a_stale_claim_is_taken_over_under_its_own_key(rig: Rig) -> None:
    claim = await claimed_elsewhere(rig, "dead-1", age_s=120)
    result = await rig.run("dead-1")
    assert result.artifact_rel == claim.rel_ref and rig.model.calls == ["dead-1"]


async def test_an_owned_call_takes_over_its_own_live_claim_at_once(rig: Rig) -> None:
    await claimed_elsewhere(rig, "item-1", age_s=1)
    assert (await rig.run("item-1", owned=True)).error is None


async def test_another_owners_id_is_taken(rig: Rig) -> None:
    await claimed_elsewhere(rig, "bobs-1", age_s=600, owner="bob")
    with pytest.raises(ArtifactExistsError):
        await rig.run("bobs-1")


async def test_an_owned_call_reuses_a_finished_result_of_the_same_input_only(rig: Rig) -> None:
    first = await rig.run("own-1", image_bytes(size=(64, 48)))
    reused = await rig.run("own-1", image_bytes(size=(64, 48)), owned=True)
    assert reused.parsed == first.parsed and reused.artifact_rel == first.artifact_rel
    assert rig.model.calls == ["own-1"]
    with pytest.raises(ArtifactExistsError):
        await rig.run("own-1", image_bytes(size=(90, 48)), owned=True)
    with pytest.raises(ArtifactExistsError):
        await rig.run("own-1", image_bytes(size=(64, 48)), who=BOB, owned=True)


async def test_a_long_call_keeps_its_claim_fresh(tmp_path: Path) -> None:
    rig = Rig(tmp_path, delay_s=0.35, refresh_s=0.1)
    task = asyncio.create_task(rig.run("slow-1"))
    await asyncio.sleep(0.05)
    first = await rig.index.get("extract", "slow-1")
    await asyncio.sleep(0.25)
    later = await rig.index.get("extract", "slow-1")
    await task
    assert first is not None and later is not None and first.pending and later.pending
    assert later.claimed_at is not None and first.claimed_at is not None
    assert later.claimed_at >= first.claimed_at


async def test_stored_finds_and_repairs_what_finished(rig: Rig) -> None:
    assert await rig.extractor.stored("nothing", ALICE) is None
    rig.index.fail_complete = True
    with pytest.raises(StorageUnavailableError):
        await rig.run("salv-1")
    rig.index.fail_complete = False
    found = await rig.extractor.stored("salv-1", ALICE)
    assert found is not None and found.request_id == "salv-1"
    assert (await rig.index.get("extract", "salv-1")).state == "complete"  # type: ignore[union-attr]
    assert await rig.extractor.stored("salv-1", BOB) is None


async def test_an_owned_call_keeps_its_result_when_only_the_completion_fails(rig: Rig) -> None:
    rig.index.fail_complete = True
    result = await rig.run("item-done", owned=True)  # a batch item: its artifact is stored
    assert result.error is None and await rig.blobs.exists(result.artifact_rel)
    held = await rig.index.get("extract", "item-done")
    assert held is not None and held.pending
    rig.index.fail_complete = False
    again = await rig.run("item-done", owned=True)  # a resume completes it, no second call
    assert again.artifact_rel == result.artifact_rel and rig.model.calls == ["item-done"]
    done = await rig.index.get("extract", "item-done")
    assert done is not None and done.state == "complete"
