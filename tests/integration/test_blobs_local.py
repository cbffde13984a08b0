"""LocalBlobStore against the BlobStore contract, plus filesystem specifics."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from adapters.blobs.local import LocalBlobStore
from domain.errors import ArtifactExistsError, InvalidInputError, StorageUnavailableError
from tests.contracts.blob_store_contract import BlobStoreContract, stream
from tests.support.tmpfs import mounted_tmpfs


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


# -- a full disk is a retryable outage ---------------------------------------------------

HUGE = 1 << 62  # more free space than any disk has


def _assert_disk_full(exc: StorageUnavailableError) -> None:
    assert exc.details["retryable"] is True and exc.details["reason"] == "disk_full"


async def test_ping_fails_retryably_below_min_free(tmp_path: Path) -> None:
    with pytest.raises(StorageUnavailableError) as caught:
        await LocalBlobStore(tmp_path / "root", min_free_bytes=HUGE).ping()
    _assert_disk_full(caught.value)
    assert caught.value.details["required_free_bytes"] == HUGE
    assert 0 <= caught.value.details["free_bytes"] < HUGE
    await LocalBlobStore(tmp_path / "root", min_free_bytes=1).ping()


async def test_puts_are_refused_below_min_free(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "not-yet-made", min_free_bytes=HUGE)
    with pytest.raises(StorageUnavailableError) as caught:
        await store.put("a/x.json", b"{}")
    _assert_disk_full(caught.value)
    with pytest.raises(StorageUnavailableError) as caught:
        await store.put_stream("a/s.bin", stream(10))
    _assert_disk_full(caught.value)
    assert _all_files(tmp_path) == []


class _Statvfs:
    """``os.statvfs`` with a settable free space, counting its calls."""

    def __init__(self) -> None:
        self.free_blocks, self.calls = 1_000_000, 0

    def __call__(self, path: object) -> os.statvfs_result:
        self.calls += 1
        return os.statvfs_result((4096, 4096, 2_000_000, self.free_blocks, self.free_blocks,
                                  100, 100, 100, 0, 255))


async def test_free_space_is_read_at_most_twice_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statvfs = _Statvfs()
    monkeypatch.setattr(os, "statvfs", statvfs)
    store = LocalBlobStore(tmp_path, min_free_bytes=100 * 4096)
    started = time.monotonic()
    for i in range(20):
        await store.put(f"a/{i}.json", b"{}")
    assert statvfs.calls <= 1 + (time.monotonic() - started) / 0.5  # not one per write
    statvfs.free_blocks = 99  # the disk fills up behind the store's back
    refused_after = None
    started = time.monotonic()
    for i in range(100):
        try:
            await store.put(f"b/{i}.json", b"{}")
        except StorageUnavailableError as exc:
            _assert_disk_full(exc)
            refused_after = time.monotonic() - started
            break
        await asyncio.sleep(0.05)
    assert refused_after is not None and refused_after < 1.0
    statvfs.free_blocks = 1_000_000
    await store.ping()  # ping reads afresh, and so refreshes the writers' reading
    await store.put("c/after.json", b"{}")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
async def test_enospc_and_edquot_on_write_are_retryable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    store = LocalBlobStore(tmp_path)

    def full(fd: int, data: object) -> int:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StorageUnavailableError) as caught:
        await store.put("a/x.json", b"{}")
    _assert_disk_full(caught.value)
    assert caught.value.details["errno"] == errno.errorcode[code]
    with pytest.raises(StorageUnavailableError) as caught:
        await store.put_stream("a/s.bin", stream(3 * 1024 * 1024))
    _assert_disk_full(caught.value)
    monkeypatch.undo()
    assert _all_files(tmp_path) == []
    await store.put("a/x.json", b"{}")


async def test_enospc_on_link_is_retryable_and_other_errors_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalBlobStore(tmp_path)
    failure = errno.ENOSPC

    def link(src: object, dst: object) -> None:
        raise OSError(failure, os.strerror(failure))

    monkeypatch.setattr(os, "link", link)
    with pytest.raises(StorageUnavailableError) as caught:
        await store.put("a/x.json", b"{}")
    _assert_disk_full(caught.value)
    failure = errno.EIO
    with pytest.raises(StorageUnavailableError) as caught:
        await store.put("a/x.json", b"{}")
    assert caught.value.details == {"reason": "OSError", "retryable": False}
    assert _all_files(tmp_path) == []


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB filesystem (needs root and permission to mount)."""
    with mounted_tmpfs(tmp_path / "tmpfs", "2m") as mount_point:
        yield mount_point


async def test_a_really_full_disk_is_retryable_until_space_is_freed(tiny_tmpfs: Path) -> None:
    store = LocalBlobStore(tiny_tmpfs / "artifacts")
    block = b"x" * (256 * 1024)
    stored = 0
    with pytest.raises(StorageUnavailableError) as caught:
        for stored in range(100):  # noqa: B007 - the count is used after the loop
            await store.put(f"fill/{stored}.bin", block)
    _assert_disk_full(caught.value)
    assert 0 < stored < 100
    with pytest.raises(StorageUnavailableError) as caught:
        await store.put_stream("fill/stream.bin", stream(len(block)))
    _assert_disk_full(caught.value)
    # Nothing half-written stays behind: only the complete blobs are there.
    assert len(_all_files(tiny_tmpfs)) == stored
    await store.delete("fill/0.bin")
    await store.put("fill/again.bin", block)
    assert await store.get("fill/again.bin") == block


async def test_a_really_full_disk_fails_ping_with_a_floor(tiny_tmpfs: Path) -> None:
    store = LocalBlobStore(tiny_tmpfs, min_free_bytes=1024 * 1024)
    await store.ping()
    (tiny_tmpfs / "ballast").write_bytes(b"x" * (1536 * 1024))
    with pytest.raises(StorageUnavailableError) as caught:
        await store.ping()
    _assert_disk_full(caught.value)
    (tiny_tmpfs / "ballast").unlink()
    await store.ping()
