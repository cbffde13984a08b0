"""Blob storage on a local directory: atomic writes, no overwrite unless allowed (ADR 0030);
a full disk is a retryable outage (``adapters.blobs.free_space``)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import stat
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from adapters.blobs.free_space import FreeSpaceFloor, disk_full_error, is_disk_full
from application.ports.blobs import BlobInfo
from domain.artifacts import check_prefix, check_rel
from domain.errors import (
    ArtifactExistsError,
    InvalidInputError,
    NotFoundError,
    StorageUnavailableError,
)

logger = logging.getLogger("ocr.storage")

# Writes go through the event loop in batches of this size, not one thread hop per chunk.
_WRITE_BATCH = 1024 * 1024
# Remembered directories (see LocalBlobStore._path); cleared when full.
_DIR_CACHE_SIZE = 4096
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _temp_name(final: Path) -> Path:
    # A leading dot can never start a valid key segment, so temp files never collide with
    # keys and listing can skip them by name.
    return final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")


def _created_at(st: os.stat_result) -> datetime:
    # Blobs are never modified after the link, so mtime is the creation time where the
    # platform does not report a birth time (Linux on Python 3.11).
    ts = getattr(st, "st_birthtime", None) or st.st_mtime
    return datetime.fromtimestamp(ts, tz=UTC)


def _unavailable(exc: OSError) -> StorageUnavailableError:
    if is_disk_full(exc):
        return disk_full_error(exc)
    return StorageUnavailableError(
        "local storage failed", details={"reason": type(exc).__name__}, retryable=False
    )


class LocalBlobStore:
    """Keys map to ``root/<rel>``; see ``application.ports.blobs.BlobStore``."""

    def __init__(
        self, root: Path, *, allow_overwrite: bool = False, min_free_bytes: int = 0
    ) -> None:
        self._root = Path(root)
        self._allow_overwrite = allow_overwrite
        self._floor = FreeSpaceFloor(self._root, min_free_bytes)
        self._root_resolved: Path | None = None
        self._dirs: dict[str, Path] = {}  # rel directory -> resolved path inside the root
        self._made: set[Path] = set()  # directories known to exist (mkdir skipped)

    # -- paths ------------------------------------------------------------------------

    def _path(self, rel: str) -> Path:
        """``root/rel`` after checking that no symlinked directory leads out of the root.

        The directory part is resolved once and remembered (artifacts of a day share one
        directory); the final component is never followed: reads open it with
        ``O_NOFOLLOW`` and writes link a new name, so a symlinked file is never a blob.
        """
        check_rel(rel)
        parent, _, name = rel.rpartition("/")
        directory = self._dirs.get(parent)
        if directory is None:
            root = self._resolved_root()
            directory = (root / parent).resolve() if parent else root
            # resolve() follows symlinks, so a linked directory pointing elsewhere is caught here.
            if not directory.is_relative_to(root):
                raise InvalidInputError("invalid storage key", details={"field": "rel"})
            if len(self._dirs) >= _DIR_CACHE_SIZE:
                self._dirs.clear()
            self._dirs[parent] = directory
        return directory / name

    def _resolved_root(self) -> Path:
        if self._root_resolved is None:
            self._root_resolved = self._root.resolve()
        return self._root_resolved

    # -- writes -----------------------------------------------------------------------

    def _open_temp(self, final: Path) -> tuple[Path, int]:
        tmp = _temp_name(final)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC
        if final.parent in self._made:
            try:
                return tmp, os.open(tmp, flags, 0o644)
            except FileNotFoundError:  # removed behind our back: make it again below
                self._made.discard(final.parent)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise InvalidInputError(
                "storage key conflicts with an existing key", details={"field": "rel"}
            ) from exc
        if len(self._made) >= _DIR_CACHE_SIZE:
            self._made.clear()
        self._made.add(final.parent)
        return tmp, os.open(tmp, flags, 0o644)

    def _commit(self, tmp: Path, fd: int, final: Path, rel: str) -> None:
        """fsync, then publish the temp file under its final name; always removes the temp."""
        try:
            os.fsync(fd)
            os.close(fd)
            fd = -1
            if self._allow_overwrite:
                os.replace(tmp, final)
            else:
                try:
                    os.link(tmp, final)  # atomic; fails if the name exists, even as a symlink
                except FileExistsError as exc:
                    raise ArtifactExistsError(
                        "artifact already exists", details={"rel": rel}
                    ) from exc
            self._fsync_dir(final.parent)
        finally:
            if fd >= 0:
                os.close(fd)
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        try:
            dfd = os.open(directory, os.O_RDONLY)
        except OSError:  # pragma: no cover - platforms without directory fds
            return
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    @staticmethod
    def _discard(tmp: Path, fd: int) -> None:
        with contextlib.suppress(OSError):
            os.close(fd)
        tmp.unlink(missing_ok=True)

    def _open_checked(self, final: Path) -> tuple[Path, int]:
        self._floor.check()
        return self._open_temp(final)

    def _put_sync(self, rel: str, data: bytes) -> None:
        final = self._path(rel)
        if not self._allow_overwrite and os.path.lexists(final):
            # Refused before a temp file is written and synced (a content-addressed input stored
            # again, a resumed batch); the link below still decides races.
            raise ArtifactExistsError("artifact already exists", details={"rel": rel})
        tmp, fd = self._open_checked(final)
        try:
            _write_all(fd, data)
        except BaseException:
            self._discard(tmp, fd)
            raise
        self._commit(tmp, fd, final, rel)

    async def put(self, rel: str, data: bytes, *, content_type: str = "application/json") -> None:
        started = time.perf_counter()
        try:
            await asyncio.to_thread(self._put_sync, rel, data)
        except OSError as exc:
            raise self._failed(exc) from exc
        self._log("storage_put", rel, len(data), started)

    async def put_stream(
        self,
        rel: str,
        chunks: AsyncIterator[bytes],
        *,
        content_type: str = "application/octet-stream",
    ) -> int:
        started = time.perf_counter()
        final = self._path(rel)
        if not self._allow_overwrite and await self.exists(rel):
            # Fail before consuming the stream; the link below still decides races.
            raise ArtifactExistsError("artifact already exists", details={"rel": rel})
        try:
            tmp, fd = await asyncio.to_thread(self._open_checked, final)
        except OSError as exc:
            raise self._failed(exc) from exc
        total = 0
        try:
            pending = bytearray()
            async for chunk in chunks:
                pending += chunk
                total += len(chunk)
                if len(pending) >= _WRITE_BATCH:
                    await self._write(fd, bytes(pending))
                    pending.clear()
            if pending:
                await self._write(fd, bytes(pending))
        except BaseException:
            await asyncio.to_thread(self._discard, tmp, fd)
            raise
        try:
            await asyncio.to_thread(self._commit, tmp, fd, final, rel)
        except OSError as exc:
            raise self._failed(exc) from exc
        self._log("storage_put", rel, total, started)
        return total

    async def _write(self, fd: int, data: bytes) -> None:
        # Only the disk's errors are translated here; the source stream's pass through as raised.
        try:
            await asyncio.to_thread(_write_all, fd, data)
        except OSError as exc:
            raise self._failed(exc) from exc

    def _failed(self, exc: OSError) -> StorageUnavailableError:
        if is_disk_full(exc):
            self._floor.forget()
        return _unavailable(exc)

    # -- reads ------------------------------------------------------------------------

    async def get(self, rel: str) -> bytes:
        started = time.perf_counter()
        path = self._path(rel)
        try:
            data = await asyncio.to_thread(_read_regular, path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFoundError("artifact not found", details={"rel": rel}) from exc
        except _SymlinkError as exc:
            raise InvalidInputError("invalid storage key", details={"field": "rel"}) from exc
        except OSError as exc:
            raise _unavailable(exc) from exc
        self._log("storage_get", rel, len(data), started)
        return data

    async def exists(self, rel: str) -> bool:
        path = self._path(rel)
        return await asyncio.to_thread(_is_regular, path)

    def _list_sync(self, prefix: str, limit: int | None) -> list[BlobInfo]:
        root = self._root.resolve()
        # Walk only the deepest directory the prefix fully names; filter the rest by string.
        base = root / prefix.rpartition("/")[0] if "/" in prefix else root
        if not base.is_dir():
            return []
        found: list[BlobInfo] = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            here = Path(dirpath)
            for name in filenames:
                if name.startswith("."):
                    continue
                rel = (here / name).relative_to(root).as_posix()
                if not rel.startswith(prefix):
                    continue
                st = (here / name).lstat()
                if not stat.S_ISREG(st.st_mode):  # symlinks and specials are not blobs
                    continue
                found.append(BlobInfo(rel=rel, size=st.st_size, created_at=_created_at(st)))
        found.sort(key=lambda info: info.rel)
        return found if limit is None else found[:limit]

    async def list(self, prefix: str, *, limit: int | None = None) -> list[BlobInfo]:
        check_prefix(prefix)
        if limit is not None and limit < 0:
            raise InvalidInputError("limit must be >= 0", details={"field": "limit"})
        try:
            return await asyncio.to_thread(self._list_sync, prefix, limit)
        except OSError as exc:
            raise _unavailable(exc) from exc

    # -- housekeeping -----------------------------------------------------------------

    async def delete(self, rel: str) -> None:
        path = self._path(rel)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except IsADirectoryError:
            return
        except OSError as exc:
            raise _unavailable(exc) from exc

    def _ping_sync(self) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        self._floor.check(fresh=True)  # an empty probe file is created even on a full disk
        probe = self._root / f".ping.{uuid.uuid4().hex}.tmp"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        probe.unlink()

    async def ping(self) -> None:
        try:
            await asyncio.to_thread(self._ping_sync)
        except OSError as exc:
            if is_disk_full(exc):
                raise self._failed(exc) from exc
            raise StorageUnavailableError(
                "local storage is not writable",
                details={"reason": type(exc).__name__},
                retryable=True,
            ) from exc

    @staticmethod
    def _log(event: str, rel: str, size: int, started: float) -> None:
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        logger.info(
            event, extra={"event": event, "rel": rel, "bytes": size, "duration_ms": duration_ms}
        )


class _SymlinkError(OSError):
    """The final component of a key is a symbolic link: never a blob."""


def _read_regular(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | _O_CLOEXEC | _O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _SymlinkError(exc.errno, "symbolic link") from exc
        raise
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a regular file")
        return fh.read()


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
