"""LocalBlobStore against the BlobStore contract, plus filesystem specifics."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.blobs.local import LocalBlobStore
from domain.errors import ArtifactExistsError, InvalidInputError, StorageUnavailableError
from tests.contracts.blob_store_contract import BlobStoreContract, stream


@pytest.fixture
def adapter(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "artifacts")


@pytest.fixture
def overwrite_adapter(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "artifacts-ow", allow_overwrite=True)


class TestLocalBlobStore(BlobStoreContract):
    pass


def _all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


async def test_keys_map_under_root(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.put("extracts/2026-01-01/r.json", b"{}")
    assert (tmp_path / "extracts" / "2026-01-01" / "r.json").read_bytes() == b"{}"


async def test_refused_put_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.put("a/b.json", b"1")
    with pytest.raises(ArtifactExistsError):
        await store.put("a/b.json", b"2")
    assert _all_files(tmp_path) == ["a/b.json"]


async def test_failed_stream_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)

    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * (3 * 1024 * 1024)
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError):
        await store.put_stream("a/big.bin", broken())
    assert _all_files(tmp_path) == []


async def test_concurrent_stream_loser_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    results = await asyncio.gather(
        *(store.put_stream("a/s.bin", stream(2 * 1024 * 1024, seed=i)) for i in range(5)),
        return_exceptions=True,
    )
    assert sum(r == 2 * 1024 * 1024 for r in results) == 1
    assert all(isinstance(r, ArtifactExistsError) for r in results if not isinstance(r, int))
    assert _all_files(tmp_path) == ["a/s.bin"]


async def test_listing_skips_temp_and_hidden_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.put("a/x.json", b"1")
    (tmp_path / "a" / ".x.json.deadbeef.tmp").write_bytes(b"partial")
    assert [i.rel for i in await store.list("a/")] == ["a/x.json"]


async def test_symlinked_directory_escaping_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.json").write_bytes(b"secret")
    os.symlink(outside, root / "link")
    store = LocalBlobStore(root)
    with pytest.raises(InvalidInputError):
        await store.get("link/secret.json")
    with pytest.raises(InvalidInputError):
        await store.put("link/new.json", b"x")
    assert not (outside / "new.json").exists()


async def test_symlinked_file_escaping_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.json").write_bytes(b"secret")
    os.symlink(tmp_path / "secret.json", root / "s.json")
    store = LocalBlobStore(root)
    with pytest.raises(InvalidInputError):
        await store.get("s.json")
    assert [i.rel for i in await store.list("")] == []


async def test_overwrite_replaces_atomically_without_temp_leftovers(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path, allow_overwrite=True)
    await store.put("a/x.json", b"1")
    await store.put("a/x.json", b"2")
    assert _all_files(tmp_path) == ["a/x.json"]


async def test_ping_creates_missing_root(tmp_path: Path) -> None:
    root = tmp_path / "not" / "yet"
    await LocalBlobStore(root).ping()
    assert root.is_dir()
    assert _all_files(root) == []


async def test_ping_fails_when_root_is_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(StorageUnavailableError):
        await LocalBlobStore(blocker / "root").ping()


async def test_put_and_get_log_events_without_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LocalBlobStore(tmp_path)
    with caplog.at_level(logging.INFO, logger="ocr.storage"):
        await store.put("a/x.json", b"top-secret-content")
        await store.get("a/x.json")
    events = [(r.event, r.rel, r.bytes) for r in caplog.records]  # type: ignore[attr-defined]
    assert events == [("storage_put", "a/x.json", 18), ("storage_get", "a/x.json", 18)]
    assert all(isinstance(r.duration_ms, float) for r in caplog.records)  # type: ignore[attr-defined]
    assert "top-secret-content" not in caplog.text
