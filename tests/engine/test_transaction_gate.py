"""TransactionGate: one connection reached by several tasks keeps each transaction whole.

The store below makes every statement a round trip (other tasks run first), as DuckDB-WASM's
worker does, so the tasks' statements interleave the way they do in the page."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from engine_helpers import run

from ducksync.engine.transaction_gate import TransactionGate
from ducksync.errors import QueryError
from ducksync.stores.native import NativeLocalStore


class RoundTrips(NativeLocalStore):
    def __init__(self, gate: TransactionGate | None) -> None:
        super().__init__(spec=":memory:", threaded=False)
        self.gate = gate

    async def execute(self, sql: str, params: Any = ()) -> None:
        await self.fetch_rows(sql, params)

    async def fetch_rows(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        if ";" in sql:  # a script: duckdb runs every statement of it
            await asyncio.sleep(0)
            if self.gate is None:
                self.con.execute(sql)
                return []
            async with self.gate.statement(sql):
                self.con.execute(sql)
                return []
        if self.gate is None:
            await asyncio.sleep(0)
            return await super().fetch_rows(sql, params)
        async with self.gate.statement(sql):
            await asyncio.sleep(0)
            return await super().fetch_rows(sql, params)


async def _two_writers(local: RoundTrips) -> None:
    """Two tasks' transactions on the one connection (a sync's, and the schema being made
    or a subscription stored at the same time)."""
    async def writer(first: int) -> None:
        await local.execute("BEGIN TRANSACTION")
        for i in range(first, first + 3):
            await local.execute("INSERT INTO t VALUES (?)", [i])
        await local.execute("COMMIT")

    async def reader() -> None:  # a failing read meanwhile (a table not made yet)
        with contextlib.suppress(QueryError):
            await local.fetch_rows("SELECT count(*) FROM not_created_yet")

    await asyncio.gather(writer(0), reader(), writer(10))


@pytest.mark.parametrize("gated", [False, True])
def test_another_tasks_statements_never_break_a_transaction(gated: bool) -> None:
    local = RoundTrips(TransactionGate() if gated else None)
    local.con.execute("CREATE TABLE t (i INTEGER)")
    if not gated:  # what the page's first sync after sign-in met (1 run in 3 in CI)
        with pytest.raises(QueryError, match=r"aborted|within a transaction"):
            run(_two_writers(local))
        return
    run(_two_writers(local))
    assert local.con.execute("SELECT count(*) FROM t").fetchall() == [(6,)]


def test_a_task_started_inside_the_transaction_passes_and_an_ended_owner_releases() -> None:
    local = RoundTrips(TransactionGate())
    local.con.execute("CREATE TABLE t (i INTEGER)")

    async def scenario() -> None:
        go = asyncio.Event()

        async def later() -> None:
            await go.wait()
            await local.execute("DELETE FROM t WHERE i = 2")

        outsider = asyncio.ensure_future(later())
        await local.execute("BEGIN TRANSACTION")
        # the engine overlaps work in tasks it starts: they belong to its transaction
        await asyncio.ensure_future(local.execute("INSERT INTO t VALUES (1)"))
        await local.execute("COMMIT")

        async def dies_inside() -> None:  # cancelled with its transaction open
            await local.execute("BEGIN TRANSACTION")
            raise RuntimeError("gone")

        # a whole transaction as one script (the feed pull's) leaves nothing open: a task
        # from outside it (started before it) is not held up afterwards
        await local.execute("BEGIN TRANSACTION; INSERT INTO t VALUES (2); COMMIT")
        go.set()
        await outsider

        with contextlib.suppress(RuntimeError):
            await asyncio.ensure_future(dies_inside())
        await asyncio.sleep(0)  # its done-callback runs
        await local.execute("ROLLBACK")  # not blocked: the dead owner released the gate

    run(asyncio.wait_for(scenario(), 5))
    assert local.con.execute("SELECT count(*) FROM t").fetchall() == [(1,)]
