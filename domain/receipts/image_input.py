"""Decoding an inline base64 image (SPEC §6.2): raw base64, no data-URI prefix."""

from __future__ import annotations

import base64
import binascii

from domain.errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaError

ACCEPTED_MIME_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/tiff")


def check_mime_type(mime_type: str) -> str:
    normalised = mime_type.strip().lower()
    if normalised == "image/jpg":
        normalised = "image/jpeg"
    if normalised not in ACCEPTED_MIME_TYPES:
        raise UnsupportedMediaError(
            "mime_type is not an accepted image type", details={"accepted": list(ACCEPTED_MIME_TYPES)}
        )
    return normalised


def decode_base64_image(text: str, max_bytes: int) -> bytes:
    """Strict base64 (standard or url-safe alphabet, whitespace ignored); size checked before decoding."""
    compact = "".join(text.split())
    if not compact:
        raise InvalidInputError("image_base64 is empty", details={"field": "image_base64"})
    if compact.startswith("data:"):
        raise InvalidInputError("image_base64 must be raw base64 without a data: URI prefix",
                                details={"field": "image_base64"})
    if len(compact) * 3 // 4 > max_bytes + 3:
        raise PayloadTooLargeError("the image is larger than MAX_IMAGE_BYTES", details={"max_bytes": max_bytes})
    if "-" in compact or "_" in compact:
        compact = compact.replace("-", "+").replace("_", "/")
    try:
        data = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError("image_base64 is not valid base64", details={"field": "image_base64"}) from None
    if len(data) > max_bytes:
        raise PayloadTooLargeError("the image is larger than MAX_IMAGE_BYTES", details={"max_bytes": max_bytes})
    if not data:
        raise InvalidInputError("image_base64 decodes to nothing", details={"field": "image_base64"})
    return data


# The leading bytes of the accepted formats (SPEC §6.2): enough to refuse a file that is no
# image at all before it is stored. Whether it really decodes is checked when it runs.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"BM", 0, "image/bmp"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
    (b"WEBP", 8, "image/webp"),
)
SNIFF_BYTES = 12


def sniff_image(head: bytes) -> str | None:
    """The accepted image type ``head`` (the first ``SNIFF_BYTES`` of a file) starts like, or None."""
    for signature, offset, mime in _SIGNATURES:
        if head[offset:offset + len(signature)] == signature:
            if mime == "image/webp" and not head.startswith(b"RIFF"):
                continue
            return mime
    return None
