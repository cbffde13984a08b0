"""DATA_ROOT on the local filesystem: nothing outside the root is ever listed or read."""

from __future__ import annotations

import asyncio
from pathlib import Path

from application.ports.data_root import IMAGE_EXTENSIONS
from domain.errors import InvalidInputError, NotFoundError

_DIR_CACHE_SIZE = 4096
_MISSING = object()


class LocalDataRoot:
    def __init__(self, root: Path) -> None:
        self._root = root
        # Directory -> its resolved path when that is inside the root (None: outside). A batch
        # lists and reads hundreds of files per directory; resolving each path walks every
        # component with lstat, so only symlinked files are resolved one by one.
        self._dirs: dict[Path, Path | None] = {}

    def _inside(self, candidate: Path) -> Path:
        root = self._root.resolve()
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError):  # a name too long, a symlink loop
            raise InvalidInputError("images_dir is not a usable path", details={"field": "images_dir"}) from None
        if resolved != root and root not in resolved.parents:
            raise self._outside()
        return resolved

    def _outside(self) -> InvalidInputError:
        # The configured root is named so a caller knows which tree images_dir is relative to.
        root = self._root.resolve()
        return InvalidInputError(f"images_dir is outside DATA_ROOT ({root})",
                                 details={"field": "images_dir", "data_root": str(root)})

    def _resolved_dir(self, directory: Path) -> Path | None:
        hit = self._dirs.get(directory, _MISSING)
        if hit is not _MISSING:
            return hit  # type: ignore[return-value]
        try:
            resolved: Path | None = self._inside(directory)
        except InvalidInputError:
            resolved = None
        if len(self._dirs) >= _DIR_CACHE_SIZE:  # worker threads share the cache: plain dict ops only
            self._dirs.clear()
        self._dirs[directory] = resolved
        return resolved

    def _inside_file(self, path: Path) -> Path:
        """Like ``_inside`` for a file: its directory via the cache, a symlinked file itself."""
        if path.is_symlink():
            return self._inside(path)
        directory = self._resolved_dir(path.parent)
        if directory is None:
            raise self._outside()
        return directory / path.name

    def _list(self, images_dir: str, glob: str, limit: int | None) -> list[str]:
        for field, value in (("images_dir", images_dir), ("glob", glob)):
            if "\x00" in value:  # the OS cannot name it: refused before any path is built
                raise InvalidInputError(f"{field} contains a NUL character", details={"field": field})
        if Path(images_dir).is_absolute() and not images_dir.startswith(str(self._root.resolve())):
            base = self._inside(Path(images_dir))
        else:
            base = self._inside(self._root / images_dir)
        if not _is_dir(base):
            root = self._root.resolve()
            raise InvalidInputError(f"images_dir is not a directory under DATA_ROOT ({root})",
                                    details={"field": "images_dir", "data_root": str(root)})
        if ".." in Path(glob).parts or Path(glob).is_absolute():
            raise InvalidInputError("glob must stay inside images_dir", details={"field": "glob"})
        root = self._root.resolve()
        # pathlib refuses "**.png" and "" with ValueError and "." with IndexError (an absolute
        # pattern, which it would refuse otherwise, is turned away above).
        try:
            candidates = list(base.glob(glob))
        except (ValueError, IndexError):
            raise InvalidInputError("glob is not a valid pattern (e.g. '**' must be a whole path component)",
                                    details={"field": "glob"}) from None
        found = []
        for path in candidates:
            if path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
                continue
            try:
                resolved = self._inside_file(path)  # a symlink pointing outside the root is skipped
            except InvalidInputError:
                continue
            found.append(str(resolved.relative_to(root)))
        found.sort()
        return found[:limit] if limit else found

    async def list_images(self, images_dir: str, glob: str, limit: int | None) -> list[str]:
        return await asyncio.to_thread(self._list, images_dir, glob, limit)

    def _read(self, path: str) -> bytes:
        target = self._inside_file(self._root / path)
        if not target.is_file():
            raise NotFoundError(f"no file {path} under DATA_ROOT")
        return target.read_bytes()

    async def read(self, path: str) -> bytes:
        return await asyncio.to_thread(self._read, path)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # e.g. a component longer than the filesystem allows
        return False
