"""Items of an upload batch whose body is still arriving (ADR 0051).

The receiving side puts each item once its file is stored — files are stored concurrently, so
possibly out of order — and finally closes the feed with the item count, or aborts it when the
upload is refused. The batch runner takes the items by index, in input order; after an abort it
takes none, so ``taken_refs`` then names every input the batch can still read. ``ItemFeeds`` lets the runner of a job find the feed of that
job in the process that receives its upload."""

from __future__ import annotations

import asyncio
from typing import Any

from application.batch_types import BatchItemInput

RECEIVING = "receiving"  # request flag of a job whose upload has not ended yet


class ItemFeed:
    def __init__(self) -> None:
        self._items: dict[int, BatchItemInput] = {}
        self._changed = asyncio.Event()
        self.total: int | None = None  # known once closed
        self.failure: dict[str, Any] | None = None  # why the upload was refused, once aborted
        self.taken_refs: set[str] = set()  # inputs of the items handed to the runner

    @property
    def count(self) -> int:
        """Items so far; the batch's total once closed."""
        return self.total if self.total is not None else len(self._items)

    @property
    def ended(self) -> bool:
        return self.total is not None or self.failure is not None

    def put(self, index: int, item: BatchItemInput) -> None:
        if self.ended:
            raise RuntimeError("the feed has ended")
        self._items[index] = item
        self._wake()

    def close(self, total: int) -> None:
        """The body ended: ``total`` items, every one of them put."""
        missing = [i for i in range(total) if i not in self._items]
        if missing:
            raise RuntimeError(f"closing a feed without items {missing[:5]}")
        self.total = total
        self._wake()

    def abort(self, failure: dict[str, Any]) -> None:
        """The upload was refused: the runner takes no further item."""
        if self.failure is None:
            self.failure = failure
        self._wake()

    async def take(self, index: int) -> BatchItemInput | None:
        """The item at ``index`` once it is there; None when there is none (the feed closed with
        fewer items, or it was aborted)."""
        while True:
            if self.failure is not None or (self.total is not None and index >= self.total):
                return None
            item = self._items.get(index)
            if item is not None:
                if item.input_ref:
                    self.taken_refs.add(item.input_ref)
                return item
            self._changed.clear()
            await self._changed.wait()

    def _wake(self) -> None:
        self._changed.set()


class ItemFeeds:
    """The feeds of the jobs whose uploads this process is receiving."""

    def __init__(self) -> None:
        self._feeds: dict[str, ItemFeed] = {}

    def open(self, job_id: str) -> ItemFeed:
        feed = self._feeds[job_id] = ItemFeed()
        return feed

    def get(self, job_id: str) -> ItemFeed | None:
        return self._feeds.get(job_id)

    def drop(self, job_id: str) -> None:
        self._feeds.pop(job_id, None)
