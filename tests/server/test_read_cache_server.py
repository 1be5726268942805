"""The server's checksum cache, end to end: a real server, the engine, two clients.

What could go wrong is a *stale* answer (a client would miss a remote change) or a
wrongly *carried* one after a bulk push (the no-op after it would see a change that
is not there, or worse, agree with a wrong base). Both are checked through what the
engine does with the answers, and against a freshly computed checksum.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from ducksync.engine.sync import SyncOptions, sync
from ducksync.stores.http import HttpRemoteStore
from ducksync.stores.native import NativeLocalStore
from serverutil import RunningServer, running_server

ROWS = 20_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running_server(tmp_path_factory.mktemp("read-cache")) as running:
        yield running


def cache_count(server: RunningServer, outcome: str) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    found = re.search(rf'^ducksync_read_cache_total{{outcome="{outcome}",read="checksums"}} '
                      r'(\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def run_sync(server: RunningServer, path: Path, mode: str = "sync") -> Any:
    async def main() -> Any:
        local, remote = NativeLocalStore(spec=str(path)), HttpRemoteStore(url=server.url)
        try:
            report = await sync(local, remote, SyncOptions(tables=["items"], batch_rows=3000),
                                mode)  # type: ignore[arg-type]
        finally:
            await remote.aclose()
            local.close()
        table = report.tables[0]
        assert table.error is None, table.error
        return table

    return asyncio.run(main())


def checksums(server: RunningServer) -> bytes:
    async def main() -> bytes:
        remote = HttpRemoteStore(url=server.url)
        try:
            return await remote.bucket_checksums("items", ["id"], 1, 1, [])
        finally:
            await remote.aclose()

    return asyncio.run(main())


def test_carried_and_invalidated_answers(server: RunningServer, tmp_path: Path) -> None:
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    with duckdb.connect(str(a)) as con:
        con.execute("CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR)")
        con.execute(f"INSERT INTO items SELECT i, 'n' || i FROM range({ROWS}) t(i)")

    pushed = run_sync(server, a, "push")
    assert pushed.pushed == ROWS and "bulk-push" in pushed.paths

    # The first no-op after the push is answered from the answer the push carried
    # (no remote hash) — and it agrees with the base, so nothing moves.
    hits = cache_count(server, "hit")
    noop = run_sync(server, a)
    assert "remote-unchanged" in noop.paths and noop.pushed == noop.pulled == 0
    assert cache_count(server, "hit") == hits + 1

    # The carried answer is the one the remote computes afresh (a write elsewhere
    # drops it: a table created on the side).
    carried = checksums(server)
    misses = cache_count(server, "miss")

    async def unrelated_write() -> None:
        remote = HttpRemoteStore(url=server.url)
        try:
            await remote.create_table("side", [{"name": "k", "type": "INTEGER",
                                                 "nullable": False}], ["k"])
        finally:
            await remote.aclose()

    asyncio.run(unrelated_write())
    assert checksums(server) == carried
    # two misses: the new table's answer, computed as it was created, and items' own
    assert cache_count(server, "miss") == misses + 2

    # Another client's write invalidates it: A sees B's change.
    run_sync(server, b, "pull")
    with duckdb.connect(str(b)) as con:
        con.execute("UPDATE items SET name = 'changed by b' WHERE id = 7")
    assert run_sync(server, b).pushed == 1
    seen = run_sync(server, a)
    assert seen.pulled == 1
    with duckdb.connect(str(a)) as con:
        assert con.execute("SELECT name FROM items WHERE id = 7").fetchall() == [("changed by b",)]
