"""Shrinking an image for a context-overflow retry (SPEC §6.4), keeping its format.

CPU-bound Pillow work: the adapter calls ``resize_image`` through ``asyncio.to_thread``.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

MIN_SIDE = 64

_FORMATS = {
    "image/jpeg": "JPEG",
    "image/jpg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/gif": "GIF",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
}


def target_size(width: int, height: int, factor: float) -> tuple[int, int]:
    """Scaled size, never below ``MIN_SIDE`` a side (nor above the original)."""

    def side(value: int) -> int:
        return min(value, max(MIN_SIDE, round(value * factor)))

    return side(width), side(height)


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the header, without decoding the pixels."""
    with Image.open(io.BytesIO(data)) as opened:
        return opened.size


def resize_image(data: bytes, factor: float, mime_type: str) -> bytes:
    """``data`` scaled by the linear ``factor``, encoded in the same format."""
    with Image.open(io.BytesIO(data)) as opened:
        fmt = opened.format or _FORMATS.get(mime_type.lower(), "PNG")
        # Phone photos carry the rotation in EXIF; apply it before resizing so the model sees
        # the receipt upright and the dropped EXIF does not leave it sideways.
        image = ImageOps.exif_transpose(opened) if fmt in ("JPEG", "WEBP", "TIFF") else opened
        # GIFs may be animated: only the first frame is kept, which is what the model sees anyway.
        image.load()
        size = target_size(image.width, image.height, factor)
        resized = (
            image.resize(size, Image.Resampling.LANCZOS) if size != image.size else image.copy()
        )
    out = io.BytesIO()
    if fmt == "JPEG":
        if resized.mode not in ("RGB", "L", "CMYK"):
            resized = resized.convert("RGB")
        resized.save(out, format="JPEG", quality=90)
    elif fmt == "GIF":
        if resized.mode not in ("P", "L"):
            resized = resized.convert("P", palette=Image.Palette.ADAPTIVE)
        resized.save(out, format="GIF")
    elif fmt == "BMP" and resized.mode not in ("1", "L", "P", "RGB"):
        resized.convert("RGB").save(out, format="BMP")
    else:
        resized.save(out, format=fmt)
    return out.getvalue()
