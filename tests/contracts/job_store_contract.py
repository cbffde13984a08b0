"""The JobStore contract, written once and run against every adapter.

Subclasses provide two fixtures: ``adapter`` (a fresh, empty store) and ``unreachable``
(a store whose database cannot be reached).
"""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from application.ports.jobs import JobStore
from domain.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StorageUnavailableError,
)
from domain.jobs import (
    IllegalTransitionError,
    Job,
    JobKind,
    JobStatus,
    finish,
    new_job,
    report_progress,
    request_cancel,
    settle_request,
    start,
)

T0 = datetime(2024, 5, 1, 23, 59, 0, 250000, tzinfo=UTC)
T1 = T0 + timedelta(seconds=3)
T2 = T0 + timedelta(minutes=2, microseconds=7)
NESTED = {
    "zeta": 1,
    "alpha": [1, 2.5, None, True, "ü €", {"deep": {"deeper": []}}],
    "empty": {},
    "big": 2**53,
    "neg": -0.125,
}


def job(
    job_id: str,
    created_at: datetime = T0,
    *,
    owner: str = "alice",
    key: str | None = None,
    kind: str = JobKind.BATCH_DIR,
    total: int | None = 3,
) -> Job:
    return new_job(
        job_id=job_id,
        kind=kind,
        owner_key_id=owner,
        owner_role="client",
        request={"data_dir": "receipts/2024", "task_id": "receipt", "options": {"n": 1}},
        at=created_at,
        total=total,
        idempotency_key=key,
        request_sha256=None if key is None else "ab" * 32,
    )


def full_job(job_id: str = "job-full") -> Job:
    """Every column set, timestamps given in a non-UTC zone."""
    zone = timezone(timedelta(hours=5, minutes=30))
    return Job(
        job_id=job_id,
        kind=JobKind.BATCH_UPLOAD,
        status=JobStatus.SUCCEEDED,
        created_at=T0.astimezone(zone),
        updated_at=T2.astimezone(zone),
        started_at=T1.astimezone(zone),
        finished_at=T2.astimezone(zone),
        owner_key_id="alice",
        owner_role="admin",
        request={"files": ["a.jpg", "b.png"], "meta": NESTED},
        cancel_requested=True,
        progress={"stage": "succeeded", "total": 2, "done": 2, "ok": 1, "err": 1, "current": None},
        result_rel="batches/2024-05-01/job-full.json",
        result_meta={"item_count": 2, "eval": NESTED},
        error={"code": "partial", "details": {"items": [1]}},
        idempotency_key="client-key-1",
        request_sha256="f" * 64,
        attempts=2,
    )


def assert_utc(*values: datetime | None) -> None:
    for value in values:
        assert value is not None and value.utcoffset() == timedelta(0)


async def all_pages(store: JobStore, **filters: object) -> list[list[Job]]:
    pages, cursor = [], None
    while True:
        page = await store.page(cursor=cursor, **filters)  # type: ignore[arg-type]
        pages.append(page.items)
        if page.next_cursor is None:
            return pages
        assert isinstance(page.next_cursor, str) and page.next_cursor
        cursor = page.next_cursor


def ids(jobs: list[Job]) -> list[str]:
    return [j.job_id for j in jobs]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Boom(RuntimeError):
    pass


class JobStoreContract:
    # --- create / get -------------------------------------------------------------------

    async def test_create_then_get_round_trips_every_field(self, adapter: JobStore) -> None:
        stored = full_job()
        await adapter.create(stored)
        got = await adapter.get("job-full")
        assert got == stored
        assert got is not None and got.status is JobStatus.SUCCEEDED
        assert_utc(got.created_at, got.updated_at, got.started_at, got.finished_at)
        assert got.started_at == T1 and got.finished_at == T2
        # JSON comes back identical, key order included.
        assert got.request["meta"] == NESTED and list(got.request["meta"]) == list(NESTED)
        assert got.result_meta == {"item_count": 2, "eval": NESTED}
        assert isinstance(got.request["meta"]["big"], int)

    async def test_control_reads_status_and_cancel_flag_only(self, adapter: JobStore) -> None:
        assert await adapter.control("job-1") is None
        await adapter.create(job("job-1"))
        control = await adapter.control("job-1")
        assert control is not None and control.status is JobStatus.QUEUED and control.cancel_requested is False
        await adapter.update("job-1", lambda j: request_cancel(j, at=T1))
        control = await adapter.control("job-1")
        assert control is not None and control.cancel_requested is True
        assert control.status == (await adapter.get("job-1")).status  # type: ignore[union-attr]

    async def test_a_new_job_round_trips_with_its_defaults(self, adapter: JobStore) -> None:
        queued = job("job-1", total=None)
        await adapter.create(queued)
        got = await adapter.get("job-1")
        assert got == queued
        assert got is not None and got.status is JobStatus.QUEUED
        assert got.started_at is None and got.finished_at is None and got.error is None
        assert got.result_meta is None and got.result_rel is None and got.idempotency_key is None
        assert got.cancel_requested is False and got.attempts == 0
        assert got.progress == {
            "stage": "queued",
            "total": None,
            "done": 0,
            "ok": 0,
            "err": 0,
            "current": None,
        }

    async def test_naive_timestamps_are_refused(self, adapter: JobStore) -> None:
        with pytest.raises(ValueError):
            await adapter.create(job("job-1", T0.replace(tzinfo=None)))
        assert await adapter.get("job-1") is None

    async def test_get_unknown_is_none(self, adapter: JobStore) -> None:
        await adapter.create(job("job-1"))
        assert await adapter.get("job-2") is None

    async def test_duplicate_job_id_is_a_conflict(self, adapter: JobStore) -> None:
        original = job("job-1")
        await adapter.create(original)
        with pytest.raises(ConflictError) as caught:
            await adapter.create(job("job-1", T1, owner="bob", key="k"))
        assert caught.value.code == "conflict"
        assert await adapter.get("job-1") == original

    # --- idempotency keys ---------------------------------------------------------------

    async def test_find_by_idempotency_key_is_per_owner(self, adapter: JobStore) -> None:
        keyed = job("job-1", key="k1")
        await adapter.create(keyed)
        await adapter.create(job("job-2"))
        assert await adapter.find_by_idempotency_key("alice", "k1") == keyed
        assert await adapter.find_by_idempotency_key("bob", "k1") is None
        assert await adapter.find_by_idempotency_key("alice", "k2") is None

    async def test_reusing_a_key_is_an_idempotency_conflict(self, adapter: JobStore) -> None:
        await adapter.create(job("job-1", key="k1"))
        with pytest.raises(ConflictError) as caught:
            await adapter.create(job("job-2", T1, key="k1"))
        assert caught.value.code == "idempotency_conflict"
        assert await adapter.get("job-2") is None

    async def test_keys_are_scoped_by_owner_and_missing_keys_never_collide(
        self, adapter: JobStore
    ) -> None:
        await adapter.create(job("job-1", key="k1"))
        await adapter.create(job("job-2", owner="bob", key="k1"))
        await adapter.create(job("job-3"))
        await adapter.create(job("job-4"))
        found = await adapter.find_by_idempotency_key("bob", "k1")
        assert found is not None and found.job_id == "job-2"

    async def test_released_key_can_name_a_new_job(self, adapter: JobStore) -> None:
        await adapter.create(job("job-1", key="k1"))
        await adapter.release_idempotency_key("job-1")
        assert await adapter.find_by_idempotency_key("alice", "k1") is None
        old = await adapter.get("job-1")
        assert old is not None and old.idempotency_key is None
        assert old.request_sha256 == "ab" * 32
        await adapter.create(job("job-2", T1, key="k1"))
        found = await adapter.find_by_idempotency_key("alice", "k1")
        assert found is not None and found.job_id == "job-2"

    async def test_releasing_the_key_of_an_unknown_job_is_not_found(
        self, adapter: JobStore
    ) -> None:
        with pytest.raises(NotFoundError):
            await adapter.release_idempotency_key("ghost")

    async def test_concurrent_creates_with_one_key_have_exactly_one_winner(
        self, adapter: JobStore
    ) -> None:
        contenders = [job(f"job-{i}", key="same") for i in range(8)]
        results = await asyncio.gather(
            *(adapter.create(j) for j in contenders), return_exceptions=True
        )
        assert results.count(None) == 1
        losers = [r for r in results if r is not None]
        assert all(isinstance(r, ConflictError) for r in losers)
        assert {r.code for r in losers} == {"idempotency_conflict"}  # type: ignore[union-attr]
        winner = contenders[results.index(None)]
        assert await adapter.find_by_idempotency_key("alice", "same") == winner

    # --- update through change functions ------------------------------------------------

    async def test_start_is_persisted(self, adapter: JobStore) -> None:
        await adapter.create(job("job-1"))
        started = await adapter.update("job-1", lambda j: start(j, at=T1))
        assert started.status is JobStatus.RUNNING and started.attempts == 1
        assert started.started_at == T1 and started.updated_at == T1
        assert started.progress is not None and started.progress["stage"] == "extracting"
        assert await adapter.get("job-1") == started

    async def test_progress_cancel_request_and_finish_are_persisted(
        self, adapter: JobStore
    ) -> None:
        await adapter.create(job("job-1"))
        await adapter.update("job-1", lambda j: start(j, at=T1))
        progress = {
            "stage": "extracting",
            "total": 3,
            "done": 1,
            "ok": 1,
            "err": 0,
            "current": {"file": "a.jpg", "nested": NESTED},
        }
        moved = await adapter.update("job-1", lambda j: report_progress(j, progress, at=T1))
        assert (await adapter.get("job-1")) == moved and moved.progress == progress
        asked = await adapter.update("job-1", lambda j: request_cancel(j, at=T2))
        assert asked.status is JobStatus.RUNNING and asked.cancel_requested is True
        done = await adapter.update(
            "job-1",
            lambda j: finish(
                j,
                JobStatus.CANCELED,
                at=T2,
                result_rel="batches/x.json",
                result_meta={"partial": True, "items": NESTED},
            ),
        )
        got = await adapter.get("job-1")
        assert got == done
        assert got is not None and got.status is JobStatus.CANCELED and got.finished_at == T2
        assert got.cancel_requested is True and got.result_meta == {
            "partial": True,
            "items": NESTED,
        }
        assert got.progress is not None and got.progress["stage"] == "canceled"
        assert_utc(got.finished_at, got.updated_at)

    async def test_failure_keeps_the_error(self, adapter: JobStore) -> None:
        await adapter.create(job("job-1"))
        await adapter.update("job-1", lambda j: start(j, at=T1))
        error = {"code": "upstream_error", "message": "model down", "retryable": True}
        failed = await adapter.update(
            "job-1", lambda j: finish(j, JobStatus.FAILED, at=T2, error=error)
        )
        got = await adapter.get("job-1")
        assert got == failed and got is not None and got.error == error
        assert got.status is JobStatus.FAILED and got.result_rel is None

    async def test_canceling_a_queued_job_ends_it_without_starting(self, adapter: JobStore) -> None:
        await adapter.create(job("job-1"))
        canceled = await adapter.update("job-1", lambda j: request_cancel(j, at=T1))
        got = await adapter.get("job-1")
        assert got == canceled and got is not None
        assert got.status is JobStatus.CANCELED and got.started_at is None
        assert got.finished_at == T1 and got.attempts == 0

    async def test_an_illegal_transition_writes_nothing(self, adapter: JobStore) -> None:
        await adapter.create(job("job-1"))
        before = await adapter.get("job-1")
        with pytest.raises(IllegalTransitionError):
            await adapter.update("job-1", lambda j: finish(j, JobStatus.SUCCEEDED, at=T1))
        with pytest.raises(IllegalTransitionError):
            await adapter.update("job-1", lambda j: report_progress(j, {"stage": "x"}, at=T1))
        assert await adapter.get("job-1") == before

    async def test_the_change_functions_error_propagates_unchanged(self, adapter: JobStore) -> None:
        await adapter.create(job("job-1"))
        before = await adapter.get("job-1")
        boom = Boom("no")

        def explode(j: Job) -> Job:
            raise boom

        with pytest.raises(Boom) as caught:
            await adapter.update("job-1", explode)
        assert caught.value is boom
        assert await adapter.get("job-1") == before

    async def test_a_naive_timestamp_from_the_change_writes_nothing(
        self, adapter: JobStore
    ) -> None:
        await adapter.create(job("job-1"))
        before = await adapter.get("job-1")
        with pytest.raises(ValueError):
            await adapter.update("job-1", lambda j: start(j, at=T1.replace(tzinfo=None)))
        assert await adapter.get("job-1") == before

    async def test_identity_owner_and_key_are_not_changed_by_update(
        self, adapter: JobStore
    ) -> None:
        original = job("job-1", key="k1")
        await adapter.create(original)

        def rewrite(j: Job) -> Job:
            return msgspec.structs.replace(
                start(j, at=T1),
                kind="other",
                owner_key_id="mallory",
                owner_role="admin",
                created_at=T2,
                idempotency_key="k2",
            )

        written = await adapter.update("job-1", rewrite)
        assert written.status is JobStatus.RUNNING
        kept = ("kind", "owner_key_id", "owner_role", "request", "created_at", "idempotency_key")
        for name in kept:
            assert getattr(written, name) == getattr(original, name), name
        assert await adapter.get("job-1") == written

    async def test_a_settled_request_and_its_fingerprint_are_persisted(self, adapter: JobStore) -> None:
        """An upload batch that started while its body arrived (ADR 0051) records the complete
        request at the end; later updates keep it."""
        await adapter.create(job("job-1", key="k1"))
        await adapter.update("job-1", lambda j: start(j, at=T1))
        plan = {"plan": {"items": [{"file": f"{i}.png"} for i in range(3)]}}
        settled = await adapter.update("job-1", lambda j: settle_request(j, plan, request_sha256="f" * 64, at=T2))
        assert settled.request == plan and settled.request_sha256 == "f" * 64
        progressed = await adapter.update("job-1", lambda j: report_progress(j, {"done": 1}, at=T2))
        assert progressed.request == plan and progressed.request_sha256 == "f" * 64
        assert await adapter.get("job-1") == progressed
        found = await adapter.find_by_idempotency_key("alice", "k1")
        assert found is not None and found.request_sha256 == "f" * 64

    async def test_update_of_an_unknown_job_is_not_found(self, adapter: JobStore) -> None:
        called = []

        def change(j: Job) -> Job:
            called.append(j)
            return j

        with pytest.raises(NotFoundError):
            await adapter.update("ghost", change)
        assert called == [] and await adapter.get("ghost") is None

    async def test_a_terminal_job_cannot_be_started_again(self, adapter: JobStore) -> None:
        await adapter.create(job("job-1"))
        await adapter.update("job-1", lambda j: start(j, at=T1))
        done = await adapter.update("job-1", lambda j: finish(j, JobStatus.SUCCEEDED, at=T2))
        with pytest.raises(IllegalTransitionError):
            await adapter.update("job-1", lambda j: start(j, at=T2 + timedelta(seconds=1)))
        with pytest.raises(IllegalTransitionError):
            await adapter.update("job-1", lambda j: request_cancel(j, at=T2))
        assert await adapter.get("job-1") == done

    # --- concurrency --------------------------------------------------------------------

    async def test_concurrent_starts_have_exactly_one_winner(self, adapter: JobStore) -> None:
        await adapter.create(job("job-1"))
        results = await asyncio.gather(
            *(
                adapter.update("job-1", lambda j, i=i: start(j, at=T1 + timedelta(seconds=i)))
                for i in range(20)
            ),
            return_exceptions=True,
        )
        winners = [r for r in results if isinstance(r, Job)]
        losers = [r for r in results if not isinstance(r, Job)]
        assert len(winners) == 1, results
        assert len(losers) == 19 and all(isinstance(r, IllegalTransitionError) for r in losers)
        got = await adapter.get("job-1")
        assert got == winners[0]
        assert got is not None and got.status is JobStatus.RUNNING and got.attempts == 1

    async def test_cancel_racing_start_ends_in_a_consistent_state(self, adapter: JobStore) -> None:
        for n in range(6):
            await adapter.create(job(f"job-{n}"))

        async def race(job_id: str, cancel_first: bool) -> None:
            def begin(j: Job) -> Job:
                return start(j, at=T1)

            def cancel(j: Job) -> Job:
                return request_cancel(j, at=T1)

            order = [cancel, begin] if cancel_first else [begin, cancel]
            results = await asyncio.gather(
                *(adapter.update(job_id, c) for c in order), return_exceptions=True
            )
            assert all(isinstance(r, Job | IllegalTransitionError) for r in results), results
            got = await adapter.get(job_id)
            assert got is not None and got.cancel_requested is True
            if got.status is JobStatus.CANCELED:  # canceled while queued: never ran
                assert got.started_at is None and got.attempts == 0
                assert sum(isinstance(r, IllegalTransitionError) for r in results) == 1
            else:  # started first, then asked to stop
                assert got.status is JobStatus.RUNNING
                assert got.started_at == T1 and got.attempts == 1 and got.finished_at is None
                assert all(isinstance(r, Job) for r in results)

        await asyncio.gather(*(race(f"job-{n}", n % 2 == 0) for n in range(6)))

    async def test_concurrent_progress_updates_lose_nothing(self, adapter: JobStore) -> None:
        await adapter.create(job("job-1", total=30))
        await adapter.update("job-1", lambda j: start(j, at=T1))

        def one_more(j: Job) -> Job:
            progress = dict(j.progress or {})
            progress["done"] = progress["done"] + 1
            return report_progress(j, progress, at=T2)

        await asyncio.gather(*(adapter.update("job-1", one_more) for _ in range(30)))
        got = await adapter.get("job-1")
        assert got is not None and got.progress is not None and got.progress["done"] == 30

    # --- listing ------------------------------------------------------------------------

    async def test_empty_page(self, adapter: JobStore) -> None:
        page = await adapter.page(owner_key_id=None, status=None, limit=10)
        assert page.items == [] and page.next_cursor is None

    async def test_pages_newest_first_without_gaps_or_duplicates(self, adapter: JobStore) -> None:
        made = [job(f"job-{i:02d}", T0 + timedelta(minutes=7 * i)) for i in range(25)]
        for j in reversed(made[::2]):  # insertion order must not matter
            await adapter.create(j)
        for j in made[1::2]:
            await adapter.create(j)
        pages = await all_pages(adapter, owner_key_id="alice", status=None, limit=10)
        assert [len(p) for p in pages] == [10, 10, 5]
        flat = [j for p in pages for j in p]
        assert ids(flat) == [f"job-{i:02d}" for i in reversed(range(25))]
        assert flat == sorted(made, key=lambda j: j.created_at, reverse=True)

    async def test_equal_timestamps_page_in_a_stable_order(self, adapter: JobStore) -> None:
        for i in ((7 * n) % 25 for n in range(25)):  # a fixed shuffle of 0..24
            await adapter.create(job(f"same-{i:02d}"))
        first = await all_pages(adapter, owner_key_id=None, status=None, limit=10)
        second = await all_pages(adapter, owner_key_id=None, status=None, limit=10)
        assert [len(p) for p in first] == [10, 10, 5]
        assert ids([j for p in first for j in p]) == [f"same-{i:02d}" for i in reversed(range(25))]
        assert first == second

    async def test_a_full_last_page_has_no_next_cursor(self, adapter: JobStore) -> None:
        for i in range(10):
            await adapter.create(job(f"job-{i}", T0 + timedelta(seconds=i)))
        page = await adapter.page(owner_key_id="alice", status=None, limit=10)
        assert len(page.items) == 10 and page.next_cursor is None

    async def test_owner_and_status_filters(self, adapter: JobStore) -> None:
        for i in range(8):
            await adapter.create(
                job(f"job-{i}", T0 + timedelta(seconds=i), owner="alice" if i % 2 else "bob")
            )
        for i in (1, 2, 5):
            await adapter.update(f"job-{i}", lambda j: start(j, at=T2))
        alice = await all_pages(adapter, owner_key_id="alice", status=None, limit=2)
        assert ids([j for p in alice for j in p]) == ["job-7", "job-5", "job-3", "job-1"]
        everyone = await all_pages(adapter, owner_key_id=None, status=None, limit=3)
        assert ids([j for p in everyone for j in p]) == [f"job-{i}" for i in reversed(range(8))]
        running = await all_pages(adapter, owner_key_id=None, status=JobStatus.RUNNING, limit=2)
        assert ids([j for p in running for j in p]) == ["job-5", "job-2", "job-1"]
        mine = await all_pages(adapter, owner_key_id="alice", status=JobStatus.QUEUED, limit=1)
        assert ids([j for p in mine for j in p]) == ["job-7", "job-3"]
        none = await adapter.page(owner_key_id="bob", status=JobStatus.FAILED, limit=5)
        assert none.items == [] and none.next_cursor is None
        assert (await adapter.page(owner_key_id="nobody", status=None, limit=5)).items == []

    async def test_jobs_created_after_a_cursor_do_not_shift_the_next_page(
        self, adapter: JobStore
    ) -> None:
        for i in range(6):
            await adapter.create(job(f"job-{i}", T0 + timedelta(seconds=i)))
        first = await adapter.page(owner_key_id=None, status=None, limit=3)
        await adapter.create(job("newer", T0 + timedelta(hours=1)))
        rest = await adapter.page(owner_key_id=None, status=None, limit=3, cursor=first.next_cursor)
        assert ids(first.items) == ["job-5", "job-4", "job-3"]
        assert ids(rest.items) == ["job-2", "job-1", "job-0"] and rest.next_cursor is None

    @pytest.mark.parametrize(
        "cursor",
        [
            "not a cursor!",
            "",
            "%%%",
            _b64(b"not json"),
            _b64(b'{"a": 1}'),
            _b64(b'["2024-05-01T00:00:00+00:00"]'),
            _b64(b'["yesterday", "job-1"]'),
            _b64(b'["2024-05-01T00:00:00", "job-1"]'),
            _b64(b'["2024-05-01T00:00:00+00:00", 5]'),
            _b64(b"\xff\xfe"),
        ],
    )
    async def test_malformed_cursor_is_invalid_input(self, adapter: JobStore, cursor: str) -> None:
        await adapter.create(job("job-1"))
        with pytest.raises(InvalidInputError) as caught:
            await adapter.page(owner_key_id=None, status=None, limit=10, cursor=cursor)
        assert caught.value.code == "bad_request"

    async def test_limit_below_one_is_invalid_input(self, adapter: JobStore) -> None:
        with pytest.raises(InvalidInputError):
            await adapter.page(owner_key_id=None, status=None, limit=0)

    async def test_ids_with_status_oldest_first(self, adapter: JobStore) -> None:
        for i in (3, 0, 4, 1, 2):
            await adapter.create(job(f"job-{i}", T0 + timedelta(seconds=i // 2)))
        await adapter.update("job-2", lambda j: start(j, at=T2))
        await adapter.update("job-0", lambda j: start(j, at=T2))
        assert await adapter.ids_with_status(JobStatus.QUEUED) == ["job-1", "job-3", "job-4"]
        assert await adapter.ids_with_status(JobStatus.RUNNING) == ["job-0", "job-2"]
        assert await adapter.ids_with_status(JobStatus.FAILED) == []
        assert await adapter.counts_by_status() == {"queued": 3, "running": 2}

    # --- health -------------------------------------------------------------------------

    async def test_ping_succeeds(self, adapter: JobStore) -> None:
        await adapter.ping()

    async def test_unreachable_database_is_storage_unavailable(self, unreachable: JobStore) -> None:
        with pytest.raises(StorageUnavailableError) as caught:
            await unreachable.ping()
        assert caught.value.code == "storage_unavailable"
        with pytest.raises(StorageUnavailableError):
            await unreachable.get("job-1")
        with pytest.raises(StorageUnavailableError):
            await unreachable.control("job-1")
        with pytest.raises(StorageUnavailableError):
            await unreachable.create(job("job-1"))
        with pytest.raises(StorageUnavailableError):
            await unreachable.update("job-1", lambda j: start(j, at=T1))
        with pytest.raises(StorageUnavailableError):
            await unreachable.page(owner_key_id=None, status=None, limit=10)
