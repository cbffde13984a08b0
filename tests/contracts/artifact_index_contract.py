"""The ArtifactIndex contract, written once and run against every adapter.

Subclasses provide two fixtures: ``adapter`` (a fresh, empty index) and ``unreachable``
(an index whose database cannot be reached).
"""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from application.ports.artifact_index import ArtifactIndex, IndexEntry
from domain.errors import (
    ArtifactExistsError,
    InvalidInputError,
    NotFoundError,
    StorageUnavailableError,
)

T0 = datetime(2024, 5, 1, 23, 59, 0, 250000, tzinfo=UTC)


def entry(
    artifact_id: str,
    created_at: datetime = T0,
    *,
    kind: str = "batch",
    owner: str = "alice",
    summary: dict | None = None,
) -> IndexEntry:
    day = created_at.astimezone(UTC).strftime("%Y-%m-%d")
    folder = {"batch": "batches", "extract": "extracts"}.get(kind, kind)
    return IndexEntry(
        kind=kind,
        artifact_id=artifact_id,
        owner_key_id=owner,
        day=day,
        rel_ref=f"{folder}/{day}/{artifact_id}.json",
        created_at=created_at,
        summary=summary,
    )


async def all_pages(
    index: ArtifactIndex, kind: str = "batch", **filters: object
) -> list[list[IndexEntry]]:
    pages, cursor = [], None
    while True:
        page = await index.page(kind, cursor=cursor, **filters)  # type: ignore[arg-type]
        pages.append(page.items)
        if page.next_cursor is None:
            return pages
        assert isinstance(page.next_cursor, str) and page.next_cursor
        cursor = page.next_cursor


def ids(entries: list[IndexEntry]) -> list[str]:
    return [e.artifact_id for e in entries]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class ArtifactIndexContract:
    async def test_add_then_get_round_trips(self, adapter: ArtifactIndex) -> None:
        added = entry(
            "run-1", summary={"item_count": 3, "eval": {"f1": 0.5, "fields": ["a", None]}}
        )
        await adapter.add(added)
        got = await adapter.get("batch", "run-1")
        assert got == added
        assert got is not None and got.created_at.utcoffset() == timedelta(0)

    async def test_summary_may_be_absent(self, adapter: ArtifactIndex) -> None:
        await adapter.add(entry("run-1"))
        got = await adapter.get("batch", "run-1")
        assert got is not None and got.summary is None

    async def test_created_at_in_another_zone_comes_back_in_utc(
        self, adapter: ArtifactIndex
    ) -> None:
        local = entry("run-1", T0.astimezone(timezone(timedelta(hours=-5))))
        await adapter.add(local)
        got = await adapter.get("batch", "run-1")
        assert (
            got is not None and got.created_at == T0 and got.created_at.utcoffset() == timedelta(0)
        )

    async def test_naive_created_at_is_refused(self, adapter: ArtifactIndex) -> None:
        with pytest.raises(ValueError):
            await adapter.add(entry("run-1", T0.replace(tzinfo=None)))
        assert await adapter.get("batch", "run-1") is None

    async def test_get_unknown_is_none(self, adapter: ArtifactIndex) -> None:
        await adapter.add(entry("run-1"))
        assert await adapter.get("batch", "run-2") is None
        assert await adapter.get("extract", "run-1") is None

    async def test_same_id_under_another_kind_is_a_different_artifact(
        self, adapter: ArtifactIndex
    ) -> None:
        await adapter.add(entry("x1", kind="batch"))
        await adapter.add(entry("x1", kind="extract", owner="bob"))
        got = await adapter.get("extract", "x1")
        assert got is not None and got.owner_key_id == "bob"

    async def test_adding_an_indexed_artifact_again_is_refused(
        self, adapter: ArtifactIndex
    ) -> None:
        original = entry("run-1", summary={"v": 1})
        await adapter.add(original)
        with pytest.raises(ArtifactExistsError) as caught:
            await adapter.add(entry("run-1", T0 + timedelta(days=1), owner="bob"))
        assert caught.value.code == "artifact_exists"
        assert await adapter.get("batch", "run-1") == original

    async def test_concurrent_adds_of_one_artifact_have_exactly_one_winner(
        self, adapter: ArtifactIndex
    ) -> None:
        contenders = [entry("race", owner=f"owner{i}") for i in range(8)]
        results = await asyncio.gather(
            *(adapter.add(e) for e in contenders), return_exceptions=True
        )
        assert results.count(None) == 1
        assert all(isinstance(r, ArtifactExistsError) for r in results if r is not None)
        winner = contenders[results.index(None)]
        assert await adapter.get("batch", "race") == winner

    async def test_update_summary_replaces_it(self, adapter: ArtifactIndex) -> None:
        await adapter.add(entry("run-1", summary={"old": True}))
        await adapter.update_summary("batch", "run-1", {"eval_id": "e1", "accuracy": 0.75})
        got = await adapter.get("batch", "run-1")
        assert got is not None and got.summary == {"eval_id": "e1", "accuracy": 0.75}
        assert got.created_at == T0 and got.rel_ref == entry("run-1").rel_ref

    async def test_update_summary_of_unknown_artifact_is_not_found(
        self, adapter: ArtifactIndex
    ) -> None:
        with pytest.raises(NotFoundError):
            await adapter.update_summary("batch", "ghost", {"x": 1})

    async def test_delete_forgets_the_entry_and_frees_its_id(self, adapter: ArtifactIndex) -> None:
        await adapter.add(entry("run-1"))
        await adapter.add(entry("run-2"))
        await adapter.delete("batch", "run-1")
        assert await adapter.get("batch", "run-1") is None
        assert await adapter.get("batch", "run-2") is not None
        await adapter.add(entry("run-1"))  # the id can be used again
        with pytest.raises(NotFoundError):
            await adapter.delete("batch", "ghost")

    async def test_empty_page(self, adapter: ArtifactIndex) -> None:
        page = await adapter.page("batch", owner_key_id=None, limit=10)
        assert page.items == [] and page.next_cursor is None

    async def test_pages_through_everything_newest_first_without_gaps_or_duplicates(
        self, adapter: ArtifactIndex
    ) -> None:
        added = [entry(f"run-{i:02d}", T0 + timedelta(minutes=7 * i)) for i in range(25)]
        for e in reversed(added[::2]):  # insertion order must not matter
            await adapter.add(e)
        for e in added[1::2]:
            await adapter.add(e)
        pages = await all_pages(adapter, owner_key_id="alice", limit=10)
        assert [len(p) for p in pages] == [10, 10, 5]
        flat = [e for p in pages for e in p]
        assert ids(flat) == [f"run-{i:02d}" for i in reversed(range(25))]
        assert flat == sorted(added, key=lambda e: e.created_at, reverse=True)

    async def test_equal_timestamps_page_in_a_stable_order(self, adapter: ArtifactIndex) -> None:
        for i in ((7 * n) % 25 for n in range(25)):  # a fixed shuffle of 0..24
            await adapter.add(entry(f"same-{i:02d}"))
        first = await all_pages(adapter, owner_key_id=None, limit=10)
        second = await all_pages(adapter, owner_key_id=None, limit=10)
        flat = [e for p in first for e in p]
        assert [len(p) for p in first] == [10, 10, 5]
        assert ids(flat) == [f"same-{i:02d}" for i in reversed(range(25))]
        assert first == second

    async def test_a_full_last_page_has_no_next_cursor(self, adapter: ArtifactIndex) -> None:
        for i in range(10):
            await adapter.add(entry(f"run-{i}", T0 + timedelta(seconds=i)))
        page = await adapter.page("batch", owner_key_id="alice", limit=10)
        assert len(page.items) == 10 and page.next_cursor is None

    async def test_entries_added_after_a_cursor_do_not_shift_the_next_page(
        self, adapter: ArtifactIndex
    ) -> None:
        for i in range(6):
            await adapter.add(entry(f"run-{i}", T0 + timedelta(seconds=i)))
        first = await adapter.page("batch", owner_key_id=None, limit=3)
        await adapter.add(entry("newer", T0 + timedelta(hours=1)))
        rest = await adapter.page("batch", owner_key_id=None, limit=3, cursor=first.next_cursor)
        assert ids(first.items) == ["run-5", "run-4", "run-3"]
        assert ids(rest.items) == ["run-2", "run-1", "run-0"] and rest.next_cursor is None

    async def test_owner_filter_and_all_owners(self, adapter: ArtifactIndex) -> None:
        for i in range(6):
            await adapter.add(
                entry(f"run-{i}", T0 + timedelta(seconds=i), owner="alice" if i % 2 else "bob")
            )
        alice = await all_pages(adapter, owner_key_id="alice", limit=2)
        assert ids([e for p in alice for e in p]) == ["run-5", "run-3", "run-1"]
        everyone = await all_pages(adapter, owner_key_id=None, limit=4)
        assert ids([e for p in everyone for e in p]) == [f"run-{i}" for i in reversed(range(6))]
        assert (await adapter.page("batch", owner_key_id="nobody", limit=5)).items == []

    async def test_pages_list_only_the_requested_kind(self, adapter: ArtifactIndex) -> None:
        await adapter.add(entry("b1", kind="batch"))
        await adapter.add(entry("e1", kind="extract"))
        page = await adapter.page("extract", owner_key_id=None, limit=10)
        assert ids(page.items) == ["e1"]

    async def test_day_filter(self, adapter: ArtifactIndex) -> None:
        day1 = datetime(2024, 5, 1, 23, 0, tzinfo=UTC)
        day2 = datetime(2024, 5, 2, 0, 30, tzinfo=UTC)
        for i in range(5):
            await adapter.add(entry(f"a{i}", day1 + timedelta(minutes=i)))
            await adapter.add(entry(f"b{i}", day2 + timedelta(minutes=i), owner="bob"))
        pages = await all_pages(adapter, owner_key_id=None, day="2024-05-02", limit=2)
        assert ids([e for p in pages for e in p]) == ["b4", "b3", "b2", "b1", "b0"]
        mine = await adapter.page("batch", owner_key_id="alice", day="2024-05-02", limit=10)
        assert mine.items == []
        assert ids(
            (await adapter.page("batch", owner_key_id="alice", day="2024-05-01", limit=2)).items
        ) == ["a4", "a3"]

    @pytest.mark.parametrize(
        "cursor",
        [
            "not a cursor!",
            "",
            "%%%",
            _b64(b"not json"),
            _b64(b'{"a": 1}'),
            _b64(b'["2024-05-01T00:00:00+00:00"]'),
            _b64(b'["yesterday", "run-1"]'),
            _b64(b'["2024-05-01T00:00:00", "run-1"]'),
            _b64(b'["2024-05-01T00:00:00+00:00", 5]'),
            _b64(b"\xff\xfe"),
        ],
    )
    async def test_malformed_cursor_is_invalid_input(
        self, adapter: ArtifactIndex, cursor: str
    ) -> None:
        await adapter.add(entry("run-1"))
        with pytest.raises(InvalidInputError) as caught:
            await adapter.page("batch", owner_key_id=None, limit=10, cursor=cursor)
        assert caught.value.code == "bad_request"

    async def test_limit_below_one_is_invalid_input(self, adapter: ArtifactIndex) -> None:
        with pytest.raises(InvalidInputError):
            await adapter.page("batch", owner_key_id=None, limit=0)

    async def test_ping_succeeds(self, adapter: ArtifactIndex) -> None:
        await adapter.ping()

    # -- claims (ADR 0042) ----------------------------------------------------------------

    async def test_a_claim_is_pending_until_completed(self, adapter: ArtifactIndex) -> None:
        claimed = entry("req-1", kind="extract")
        assert await adapter.claim(claimed) is None
        held = await adapter.get("extract", "req-1")
        assert held is not None and held.pending and held.claimed_at == T0
        assert held.rel_ref == claimed.rel_ref and held.owner_key_id == "alice"
        await adapter.complete("extract", "req-1", {"ok": True})
        done = await adapter.get("extract", "req-1")
        assert done is not None and not done.pending and done.state == "complete"
        assert done.summary == {"ok": True} and done.claimed_at is None

    async def test_completing_twice_is_a_no_op_and_keeps_the_summary(self, adapter: ArtifactIndex) -> None:
        await adapter.claim(entry("req-1", kind="extract"))
        await adapter.complete("extract", "req-1", {"n": 1})
        await adapter.complete("extract", "req-1")
        done = await adapter.get("extract", "req-1")
        assert done is not None and done.state == "complete" and done.summary == {"n": 1}

    async def test_completing_an_unknown_id_is_not_found(self, adapter: ArtifactIndex) -> None:
        with pytest.raises(NotFoundError):
            await adapter.complete("extract", "nope")

    async def test_claiming_a_held_id_returns_the_holder_and_writes_nothing(self, adapter: ArtifactIndex) -> None:
        await adapter.claim(entry("req-1", kind="extract", owner="alice"))
        later = entry("req-1", T0 + timedelta(hours=30), kind="extract", owner="bob")
        held = await adapter.claim(later)
        assert held is not None and held.pending and held.owner_key_id == "alice" and held.created_at == T0
        await adapter.complete("extract", "req-1")
        held = await adapter.claim(later)
        assert held is not None and held.state == "complete" and held.owner_key_id == "alice"
        with pytest.raises(ArtifactExistsError):
            await adapter.add(later)

    async def test_concurrent_claims_of_one_id_have_exactly_one_winner(self, adapter: ArtifactIndex) -> None:
        outcomes = await asyncio.gather(*(adapter.claim(entry("req-1", kind="extract", owner=f"o{i}"))
                                          for i in range(12)))
        winners = [i for i, held in enumerate(outcomes) if held is None]
        assert len(winners) == 1
        assert all(held is not None and held.owner_key_id == f"o{winners[0]}" for held in outcomes if held)

    async def test_release_drops_a_pending_claim_but_never_a_complete_entry(self, adapter: ArtifactIndex) -> None:
        await adapter.claim(entry("req-1", kind="extract"))
        await adapter.release("extract", "req-1")
        assert await adapter.get("extract", "req-1") is None
        assert await adapter.claim(entry("req-1", kind="extract", owner="bob")) is None
        await adapter.complete("extract", "req-1")
        await adapter.release("extract", "req-1")
        await adapter.release("extract", "never-claimed")
        kept = await adapter.get("extract", "req-1")
        assert kept is not None and kept.owner_key_id == "bob" and kept.state == "complete"

    async def test_refresh_moves_claimed_at_of_pending_claims_only(self, adapter: ArtifactIndex) -> None:
        await adapter.claim(entry("a", kind="extract"))
        await adapter.claim(entry("b", kind="extract"))
        await adapter.add(entry("c", kind="extract"))
        later = T0 + timedelta(seconds=42)
        await adapter.refresh_claims("extract", ["a", "c", "missing"], later)
        a, b, c = [await adapter.get("extract", x) for x in "abc"]
        assert a is not None and a.claimed_at == later
        assert b is not None and b.claimed_at == T0
        assert c is not None and c.state == "complete" and c.claimed_at is None
        await adapter.refresh_claims("extract", [], later)

    async def test_pages_list_complete_entries_only(self, adapter: ArtifactIndex) -> None:
        await adapter.add(entry("done", kind="extract"))
        await adapter.claim(entry("pending", kind="extract"))
        pages = await all_pages(adapter, "extract", owner_key_id=None, limit=10)
        assert [ids(p) for p in pages] == [["done"]]
        day = T0.strftime("%Y-%m-%d")
        assert ids((await adapter.page("extract", owner_key_id="alice", limit=10, day=day)).items) == ["done"]

    async def test_unreachable_database_is_storage_unavailable(
        self, unreachable: ArtifactIndex
    ) -> None:
        with pytest.raises(StorageUnavailableError) as caught:
            await unreachable.ping()
        assert caught.value.code == "storage_unavailable"
        with pytest.raises(StorageUnavailableError):
            await unreachable.get("batch", "run-1")
        with pytest.raises(StorageUnavailableError):
            await unreachable.add(entry("run-1"))
        with pytest.raises(StorageUnavailableError):
            await unreachable.page("batch", owner_key_id=None, limit=10)
        with pytest.raises(StorageUnavailableError):
            await unreachable.claim(entry("run-1"))
        with pytest.raises(StorageUnavailableError):
            await unreachable.complete("batch", "run-1")
