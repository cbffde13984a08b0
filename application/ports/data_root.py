"""Read-only access to the server-side image tree under DATA_ROOT (SPEC §6.3)."""

from __future__ import annotations

from typing import Protocol

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")


class DataRoot(Protocol):
    """Paths are relative to DATA_ROOT. Errors: ``InvalidInputError`` for a directory that
    resolves outside the root (symlinks included) or does not exist; ``NotFoundError`` for a
    missing file."""

    async def list_images(self, images_dir: str, glob: str, limit: int | None) -> list[str]:
        """Image files (by extension) under ``images_dir`` matching ``glob``, sorted by path,
        cut to ``limit`` before anything is read. Returned paths are relative to the root."""
        ...

    async def read(self, path: str) -> bytes: ...
