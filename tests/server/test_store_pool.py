"""The server's store pool (py/ducksync/server/backend.py)."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio

from ducksync.server.backend import StorePool
from ducksync.server.remote import RemoteDatabase


def test_the_next_call_gets_the_store_used_last(tmp_path: Path) -> None:
    """A pooled store that has read the catalog surveys in one round trip
    (docs/remote-store.md, "Round trips"): after concurrent calls grew the pool to two
    stores, calls one after another keep getting the warm one, not each in turn."""
    made: list[Any] = []

    def factory(cursor: Any) -> Any:
        made.append(SimpleNamespace(con=cursor, n=len(made)))
        return made[-1]

    pool = StorePool(database=RemoteDatabase(spec=str(tmp_path / "r.duckdb")), size=4,
                     timeout_s=30, store_factory=factory)
    both = threading.Barrier(2, timeout=30)  # two calls hold a store at the same time

    def held(store: Any) -> int:
        both.wait()
        return int(store.n)

    async def main() -> list[int]:
        async with anyio.create_task_group() as tg:
            for _ in range(2):
                tg.start_soon(pool.call, held)
        return [await pool.call(lambda store: int(store.n)) for _ in range(4)]

    after = anyio.run(main)
    assert len(made) == 2
    assert len(set(after)) == 1, after
