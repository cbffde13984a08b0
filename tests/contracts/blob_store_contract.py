"""The BlobStore contract, written once and run against every adapter.

Subclasses provide two fixtures: ``adapter`` (a fresh, empty store that refuses overwrites)
and ``overwrite_adapter`` (a fresh, empty store with ``allow_overwrite=True``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from application.ports.blobs import BlobInfo, BlobStore
from domain.errors import ArtifactExistsError, InvalidInputError, NotFoundError

MIB = 1024 * 1024
INVALID_KEYS = ["../x", "/abs", "a//b", "", "a/../b", "a/./b", "a/", ".hidden", "a/b\x00c", "a\\b"]


async def stream(total: int, *, chunk: int = 256 * 1024, seed: int = 0) -> AsyncIterator[bytes]:
    """``total`` deterministic bytes in ``chunk``-sized pieces, generated lazily."""
    sent = 0
    block = 0
    while sent < total:
        size = min(chunk, total - sent)
        yield _block(seed, block, size)
        sent += size
        block += 1


def _block(seed: int, index: int, size: int) -> bytes:
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return (digest * (size // len(digest) + 1))[:size]


def expected_stream_bytes(total: int, *, chunk: int = 256 * 1024, seed: int = 0) -> bytes:
    return b"".join(
        _block(seed, i, min(chunk, total - i * chunk)) for i in range((total + chunk - 1) // chunk)
    )


class BlobStoreContract:
    """Behaviour every ``BlobStore`` adapter must show."""

    # -- round trips ----------------------------------------------------------------

    async def test_put_get_round_trip(self, adapter: BlobStore) -> None:
        data = b'{"ok": true, "bytes": "\xc3\xa9\x00\xff"}'
        await adapter.put("extracts/2026-01-01/req_1.json", data)
        assert await adapter.get("extracts/2026-01-01/req_1.json") == data

    async def test_empty_blob_round_trip(self, adapter: BlobStore) -> None:
        await adapter.put("inputs/k/ab/empty.bin", b"", content_type="application/octet-stream")
        assert await adapter.get("inputs/k/ab/empty.bin") == b""

    async def test_get_missing_is_not_found(self, adapter: BlobStore) -> None:
        with pytest.raises(NotFoundError):
            await adapter.get("extracts/2026-01-01/missing.json")

    async def test_exists(self, adapter: BlobStore) -> None:
        assert await adapter.exists("jobs/2026-01-01/job_1.json") is False
        await adapter.put("jobs/2026-01-01/job_1.json", b"{}")
        assert await adapter.exists("jobs/2026-01-01/job_1.json") is True
        assert await adapter.exists("jobs/2026-01-01") is False  # a "directory" is not a blob

    # -- overwrite refusal ----------------------------------------------------------

    async def test_put_existing_key_is_refused_and_content_kept(self, adapter: BlobStore) -> None:
        await adapter.put("extracts/2026-01-01/req_2.json", b"first")
        with pytest.raises(ArtifactExistsError) as info:
            await adapter.put("extracts/2026-01-01/req_2.json", b"second")
        assert info.value.code == "artifact_exists"
        assert await adapter.get("extracts/2026-01-01/req_2.json") == b"first"

    async def test_overwrite_allowed_replaces(self, overwrite_adapter: BlobStore) -> None:
        await overwrite_adapter.put("evals/2026-01-01/ev_1.json", b"first")
        await overwrite_adapter.put("evals/2026-01-01/ev_1.json", b"second, longer")
        assert await overwrite_adapter.get("evals/2026-01-01/ev_1.json") == b"second, longer"

    async def test_concurrent_puts_have_exactly_one_winner(self, adapter: BlobStore) -> None:
        rel = "batches/2026-01-01/run_race.json"
        payloads = [f'{{"writer": {i}}}'.encode() * (i + 1) for i in range(10)]
        results = await asyncio.gather(
            *(adapter.put(rel, p) for p in payloads), return_exceptions=True
        )
        winners = [i for i, r in enumerate(results) if r is None]
        losers = [r for r in results if r is not None]
        assert len(winners) == 1, results
        assert all(isinstance(r, ArtifactExistsError) for r in losers), losers
        assert await adapter.get(rel) == payloads[winners[0]]

    # -- streams --------------------------------------------------------------------

    async def test_put_stream_multipart_round_trip(self, adapter: BlobStore) -> None:
        size = 12 * MIB + 123
        written = await adapter.put_stream("inputs/k/cd/big.bin", stream(size))
        assert written == size
        data = await adapter.get("inputs/k/cd/big.bin")
        assert len(data) == size
        assert data == expected_stream_bytes(size)

    async def test_put_stream_small_round_trip(self, adapter: BlobStore) -> None:
        assert await adapter.put_stream("inputs/k/cd/small.bin", stream(1000, chunk=100)) == 1000
        assert await adapter.get("inputs/k/cd/small.bin") == expected_stream_bytes(1000, chunk=100)

    async def test_put_stream_refuses_existing_key(self, adapter: BlobStore) -> None:
        await adapter.put_stream("inputs/k/cd/big2.bin", stream(12 * MIB, seed=1))
        with pytest.raises(ArtifactExistsError):
            await adapter.put_stream("inputs/k/cd/big2.bin", stream(12 * MIB, seed=2))
        with pytest.raises(ArtifactExistsError):
            await adapter.put_stream("inputs/k/cd/big2.bin", stream(10, seed=2))
        assert await adapter.get("inputs/k/cd/big2.bin") == expected_stream_bytes(12 * MIB, seed=1)

    async def test_concurrent_put_streams_have_exactly_one_winner(self, adapter: BlobStore) -> None:
        rel, size = "inputs/k/cd/race.bin", 9 * MIB
        results = await asyncio.gather(
            *(adapter.put_stream(rel, stream(size, seed=i)) for i in range(3)),
            return_exceptions=True,
        )
        winners = [i for i, r in enumerate(results) if r == size]
        assert len(winners) == 1, results
        assert all(isinstance(r, ArtifactExistsError) for r in results if r != size), results
        assert await adapter.get(rel) == expected_stream_bytes(size, seed=winners[0])

    async def test_put_stream_overwrite_allowed_replaces(
        self, overwrite_adapter: BlobStore
    ) -> None:
        await overwrite_adapter.put_stream("inputs/k/cd/big3.bin", stream(6 * MIB, seed=1))
        await overwrite_adapter.put_stream("inputs/k/cd/big3.bin", stream(7 * MIB, seed=2))
        assert await overwrite_adapter.get("inputs/k/cd/big3.bin") == expected_stream_bytes(
            7 * MIB, seed=2
        )

    async def test_failed_stream_leaves_no_blob(self, adapter: BlobStore) -> None:
        async def broken() -> AsyncIterator[bytes]:
            yield b"x" * (6 * MIB)
            yield b"y" * (6 * MIB)
            raise RuntimeError("source failed")

        with pytest.raises(RuntimeError):
            await adapter.put_stream("inputs/k/cd/broken.bin", broken())
        assert await adapter.exists("inputs/k/cd/broken.bin") is False
        assert await adapter.list("inputs/") == []

    # -- listing --------------------------------------------------------------------

    async def test_list_by_prefix_sorted_with_sizes_and_times(self, adapter: BlobStore) -> None:
        before = datetime.now(UTC) - timedelta(seconds=5)
        for rel, data in [
            ("extracts/2026-01-02/b.json", b"bb"),
            ("extracts/2026-01-01/c.json", b"ccc"),
            ("extracts/2026-01-01/a.json", b"a"),
            ("batches/2026-01-01/z.json", b"zzzz"),
        ]:
            await adapter.put(rel, data)
        after = datetime.now(UTC) + timedelta(seconds=5)

        listed = await adapter.list("extracts/")
        assert [(i.rel, i.size) for i in listed] == [
            ("extracts/2026-01-01/a.json", 1),
            ("extracts/2026-01-01/c.json", 3),
            ("extracts/2026-01-02/b.json", 2),
        ]
        assert all(isinstance(i, BlobInfo) for i in listed)
        assert all(
            i.created_at.tzinfo is not None and before <= i.created_at <= after for i in listed
        )

        assert [i.rel for i in await adapter.list("extracts/2026-01-01")] == [
            "extracts/2026-01-01/a.json",
            "extracts/2026-01-01/c.json",
        ]
        assert [i.rel for i in await adapter.list("extracts/2026-01-0")] == [i.rel for i in listed]
        assert [i.rel for i in await adapter.list("", limit=10)][0] == "batches/2026-01-01/z.json"
        assert await adapter.list("evals/") == []

    async def test_list_limit(self, adapter: BlobStore) -> None:
        for n in range(5):
            await adapter.put(f"jobs/2026-01-01/job_{n}.json", b"{}")
        listed = await adapter.list("jobs/", limit=3)
        assert [i.rel for i in listed] == [f"jobs/2026-01-01/job_{n}.json" for n in range(3)]
        assert await adapter.list("jobs/", limit=0) == []

    # -- delete, keys, ping -----------------------------------------------------------

    async def test_delete_is_idempotent(self, adapter: BlobStore) -> None:
        await adapter.put("extracts/2026-01-01/del.json", b"x")
        await adapter.delete("extracts/2026-01-01/del.json")
        assert await adapter.exists("extracts/2026-01-01/del.json") is False
        await adapter.delete("extracts/2026-01-01/del.json")
        await adapter.delete("extracts/2026-01-01/never.json")
        with pytest.raises(NotFoundError):
            await adapter.get("extracts/2026-01-01/del.json")

    async def test_put_after_delete_is_allowed(self, adapter: BlobStore) -> None:
        await adapter.put("extracts/2026-01-01/again.json", b"1")
        await adapter.delete("extracts/2026-01-01/again.json")
        await adapter.put("extracts/2026-01-01/again.json", b"2")
        assert await adapter.get("extracts/2026-01-01/again.json") == b"2"

    @pytest.mark.parametrize("rel", INVALID_KEYS)
    async def test_invalid_keys_are_refused(self, adapter: BlobStore, rel: str) -> None:
        with pytest.raises(InvalidInputError):
            await adapter.put(rel, b"x")
        with pytest.raises(InvalidInputError):
            await adapter.get(rel)
        with pytest.raises(InvalidInputError):
            await adapter.exists(rel)
        with pytest.raises(InvalidInputError):
            await adapter.delete(rel)
        with pytest.raises(InvalidInputError):
            await adapter.put_stream(rel, stream(10))

    @pytest.mark.parametrize("prefix", ["../", "/abs", "a//b", ".."])
    async def test_invalid_prefixes_are_refused(self, adapter: BlobStore, prefix: str) -> None:
        with pytest.raises(InvalidInputError):
            await adapter.list(prefix)

    async def test_ping(self, adapter: BlobStore) -> None:
        await adapter.ping()
