"""The HMAC pepper for API keys: API_KEY_PEPPER, else a generated file reused across starts."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

logger = logging.getLogger("ocr.auth")


def resolve_pepper(explicit: str | None, pepper_file: str) -> bytes:
    if explicit:
        return explicit.encode("utf-8")
    path = Path(pepper_file)
    if path.is_file():
        return path.read_text(encoding="ascii").strip().encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text(encoding="ascii").strip().encode("utf-8")
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value + "\n")
    logger.warning(
        "API_KEY_PEPPER is unset: generated one and stored it for reuse; set it explicitly in production",
        extra={"event": "pepper_generated", "path": str(path)},
    )
    return value.encode("utf-8")
