"""DATA_ROOT on the local filesystem: nothing outside the root is ever listed or read."""

from __future__ import annotations

import asyncio
from pathlib import Path

from application.ports.data_root import IMAGE_EXTENSIONS
from domain.errors import InvalidInputError, NotFoundError


class LocalDataRoot:
    def __init__(self, root: Path) -> None:
        self._root = root

    def _inside(self, candidate: Path) -> Path:
        root = self._root.resolve()
        resolved = candidate.resolve()
        if resolved != root and root not in resolved.parents:
            raise InvalidInputError("path is outside DATA_ROOT", details={"field": "images_dir"})
        return resolved

    def _list(self, images_dir: str, glob: str, limit: int | None) -> list[str]:
        if Path(images_dir).is_absolute() and not images_dir.startswith(str(self._root.resolve())):
            base = self._inside(Path(images_dir))
        else:
            base = self._inside(self._root / images_dir)
        if not base.is_dir():
            raise InvalidInputError("images_dir is not a directory under DATA_ROOT", details={"field": "images_dir"})
        if ".." in Path(glob).parts or Path(glob).is_absolute():
            raise InvalidInputError("glob must stay inside images_dir", details={"field": "glob"})
        root = self._root.resolve()
        found = []
        for path in base.glob(glob):
            if path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
                continue
            try:
                resolved = self._inside(path)  # a symlink pointing outside the root is skipped
            except InvalidInputError:
                continue
            found.append(str(resolved.relative_to(root)))
        found.sort()
        return found[:limit] if limit else found

    async def list_images(self, images_dir: str, glob: str, limit: int | None) -> list[str]:
        return await asyncio.to_thread(self._list, images_dir, glob, limit)

    def _read(self, path: str) -> bytes:
        target = self._inside(self._root / path)
        if not target.is_file():
            raise NotFoundError(f"no file {path} under DATA_ROOT")
        return target.read_bytes()

    async def read(self, path: str) -> bytes:
        return await asyncio.to_thread(self._read, path)
