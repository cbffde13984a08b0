"""Stored-input bytes per owner: the running total behind MAX_INPUT_BYTES_PER_OWNER (issue 12)."""

from __future__ import annotations

from typing import Protocol


class InputUsage(Protocol):
    """Errors: ``StorageUnavailableError`` when the database is down."""

    async def add(self, owner_key_id: str, size: int, *, limit: int) -> bool:
        """Add ``size`` bytes to the owner's total unless it would pass ``limit``; atomically,
        so concurrent stores of one owner never pass it together. True when added."""
        ...

    async def subtract(self, owner_key_id: str, size: int) -> None:
        """Take ``size`` bytes off the owner's total (never below zero)."""
        ...

    async def total(self, owner_key_id: str) -> int: ...
