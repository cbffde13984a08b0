"""Free space of the local storage root: a full disk is an outage, not a broken store.

A write below the floor, or one the kernel refuses with ENOSPC/EDQUOT, is a retryable
``StorageUnavailableError`` with ``details.reason = "disk_full"`` — the space may come back —
and ``ping`` (``/v1/ready``) fails the same way, because creating an empty probe file still
succeeds on a full disk.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from pathlib import Path

from domain.errors import StorageUnavailableError

# A reading is reused this long: a hot write path pays one statvfs per interval, and a
# change of conditions shows within a second.
TTL_S = 0.5
_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def is_disk_full(exc: OSError) -> bool:
    return exc.errno in _FULL_ERRNOS


def disk_full_error(exc: OSError) -> StorageUnavailableError:
    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    return StorageUnavailableError(
        "local storage is full", details={"reason": "disk_full", "errno": name}, retryable=True
    )


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding ``path`` (or,
    before ``path`` exists, its nearest existing ancestor)."""
    while True:
        try:
            st = os.statvfs(path)
        except FileNotFoundError:
            if path.parent == path:
                raise
            path = path.parent
            continue
        return st.f_bavail * st.f_frsize


class FreeSpaceFloor:
    """Refuses writes while the filesystem of ``root`` has fewer than ``min_free_bytes`` free.

    Called from worker threads; the cached reading is one tuple, replaced whole.
    """

    def __init__(
        self,
        root: Path,
        min_free_bytes: int,
        *,
        ttl_s: float = TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._root = root
        self._min = max(0, min_free_bytes)
        self._ttl = ttl_s
        self._clock = clock
        self._reading: tuple[float, int] | None = None  # (clock time, free bytes)

    def check(self, *, fresh: bool = False) -> None:
        """Raise the disk-full error below the floor; ``fresh`` skips the cached reading."""
        if not self._min:
            return
        now = self._clock()
        reading = self._reading
        if fresh or reading is None or now - reading[0] >= self._ttl:
            reading = (now, free_bytes(self._root))
            self._reading = reading
        if reading[1] < self._min:
            raise StorageUnavailableError(
                "local storage is full",
                details={"reason": "disk_full", "free_bytes": reading[1],
                         "required_free_bytes": self._min},
                retryable=True,
            )

    def forget(self) -> None:
        """After ENOSPC the cached reading is stale: the next check reads the disk again."""
        self._reading = None
