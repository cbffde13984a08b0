"""Image inspection port: decode enough of an upload to know it is a real image."""

from __future__ import annotations

from typing import Protocol

import msgspec

ACCEPTED_MIME_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/tiff")


class ImageInfo(msgspec.Struct, frozen=True, kw_only=True):
    mime_type: str
    width: int
    height: int


class ImageProbe(Protocol):
    async def inspect(self, data: bytes) -> ImageInfo:
        """Raises ``InvalidInputError`` when the bytes are not a decodable image of an accepted format."""
        ...
