"""Small real images for tests."""

from __future__ import annotations

import base64
import io

from PIL import Image


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48), color: str = "white") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def image_b64(fmt: str = "PNG", size: tuple[int, int] = (64, 48)) -> str:
    return base64.b64encode(image_bytes(fmt, size)).decode()
