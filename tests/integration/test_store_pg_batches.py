"""Grouped statements (ADR 0043): rows of concurrent callers share one statement, and each
caller still gets its own outcome. A scripted ``send`` stands in for PostgreSQL here; the
PostgreSQL suites run the real statements."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from adapters.store.pg_batches import MAX_ROWS, GroupedStatements
from domain.errors import StorageUnavailableError

Row = tuple[str, str]


class Server:
    """Answers each row with its id, after a pause while the statement is "on its way"."""

    def __init__(self, *, fail_with: Exception | None = None, bad: str | None = None) -> None:
        self.statements: list[list[str]] = []
        self.fail_with = fail_with
        self.bad = bad
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, rows: Sequence[Row]) -> list[str]:
        self.statements.append([r[1] for r in rows])
        await self.gate.wait()
        await asyncio.sleep(0.01)
        if self.fail_with is not None:
            raise self.fail_with
        if self.bad is not None and any(r[1] == self.bad for r in rows):
            raise ValueError("value too long")
        return [f"ok:{r[1]}" for r in rows]


def grouped(server: Server) -> GroupedStatements[Row, str]:
    return GroupedStatements(server.send, key=lambda row: row)


async def _sent(server: Server, count: int) -> None:
    for _ in range(100):
        if len(server.statements) >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{count} statements expected, {server.statements} sent")


async def test_a_lone_row_goes_at_once_and_rows_queued_meanwhile_share_the_next_statement() -> None:
    server = Server()
    statements = grouped(server)
    first = asyncio.create_task(statements.submit(("k", "a")))
    await _sent(server, 1)
    rest = [asyncio.create_task(statements.submit(("k", f"r{i}"))) for i in range(5)]
    assert await first == "ok:a"
    assert await asyncio.gather(*rest) == [f"ok:r{i}" for i in range(5)]
    assert server.statements == [["a"], [f"r{i}" for i in range(5)]]


async def test_a_statement_carries_at_most_max_rows() -> None:
    server = Server()
    statements = grouped(server)
    await asyncio.gather(*(statements.submit(("k", f"r{i}")) for i in range(2 * MAX_ROWS + 2)))
    assert [len(s) for s in server.statements] == [MAX_ROWS, MAX_ROWS, 2]


async def test_a_key_appears_once_per_statement() -> None:
    server = Server()
    statements = grouped(server)
    await asyncio.gather(*(statements.submit(("k", name)) for name in ["x", "a", "b", "a", "c", "a"]))
    assert server.statements == [["x", "a", "b", "c"], ["a"], ["a"]]


async def test_unavailability_fails_every_row_of_the_statement_with_its_own_error() -> None:
    cause = StorageUnavailableError("index artifact: the database is unavailable", retryable=True)
    server = Server(fail_with=cause)
    statements = grouped(server)
    results = await asyncio.gather(*(statements.submit(("k", f"r{i}")) for i in range(4)), return_exceptions=True)
    assert all(isinstance(r, StorageUnavailableError) and r.code == "storage_unavailable" for r in results)
    assert all(r.details == {"retryable": True} for r in results)  # type: ignore[union-attr]
    assert len({id(r) for r in results}) == 4


async def test_one_bad_row_fails_alone() -> None:
    server = Server(bad="r2")
    statements = grouped(server)
    results = await asyncio.gather(*(statements.submit(("k", f"r{i}")) for i in range(5)), return_exceptions=True)
    assert results[:2] == ["ok:r0", "ok:r1"] and results[3:] == ["ok:r3", "ok:r4"]
    assert isinstance(results[2], ValueError)
    assert server.statements == [[f"r{i}" for i in range(5)], ["r0"], ["r1"], ["r2"], ["r3"], ["r4"]]


async def test_a_caller_cancelled_before_its_row_was_sent_sends_nothing() -> None:
    server = Server()
    server.gate.clear()
    statements = grouped(server)
    first = asyncio.create_task(statements.submit(("k", "first")))
    await _sent(server, 1)
    gone = asyncio.create_task(statements.submit(("k", "gone")))
    kept = asyncio.create_task(statements.submit(("k", "kept")))
    await asyncio.sleep(0)
    gone.cancel()
    server.gate.set()
    assert await first == "ok:first" and await kept == "ok:kept"
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert server.statements == [["first"], ["kept"]]


async def test_each_event_loop_has_its_own_queue() -> None:
    server = Server()
    statements = grouped(server)

    def in_another_loop() -> str:
        return asyncio.run(statements.submit(("k", "elsewhere")))

    here, there = await asyncio.gather(statements.submit(("k", "here")), asyncio.to_thread(in_another_loop))
    assert (here, there) == ("ok:here", "ok:elsewhere")
