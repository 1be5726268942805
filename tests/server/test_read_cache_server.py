"""The server's checksum cache, end to end: a real server, the engine, two clients.

What could go wrong is a *stale* answer (a client would miss a remote change) or a
wrongly *carried* one after a bulk push (the no-op after it would see a change that
is not there, or worse, agree with a wrong base). Both are checked through what the
engine does with the answers, and against a freshly computed checksum. The same for
a descent's row hashes, kept between its levels: the answers they give, and once per
descent.
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
from ducksync.stores._arrow import from_ipc
from ducksync.stores.http import HttpRemoteStore
from ducksync.stores.native import NativeLocalStore, NativeRemoteStore
from serverutil import RunningServer, running_server

ROWS = 20_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running_server(tmp_path_factory.mktemp("read-cache")) as running:
        yield running


def cache_count(server: RunningServer, outcome: str, read: str = "checksums") -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    found = re.search(rf'^ducksync_read_cache_total{{outcome="{outcome}",read="{read}"}} '
                      r'(\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def run_sync(server: RunningServer, path: Path, mode: str = "sync",
             table: str = "items") -> Any:
    async def main() -> Any:
        local, remote = NativeLocalStore(spec=str(path)), HttpRemoteStore(url=server.url)
        try:
            report = await sync(local, remote, SyncOptions(tables=[table], batch_rows=3000),
                                mode)  # type: ignore[arg-type]
        finally:
            await remote.aclose()
            local.close()
        done = report.tables[0]
        assert done.error is None, done.error
        return done

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


def _rows(ipc: bytes) -> list[dict[str, Any]]:
    return sorted(from_ipc(ipc).to_pylist(), key=lambda r: int(r["bucket"]))


def test_kept_hashes_answer_every_level_as_the_table_does() -> None:
    store = NativeRemoteStore(spec=":memory:", threaded=False)
    store.con.execute("CREATE TABLE t (a INTEGER, b VARCHAR, v DOUBLE, PRIMARY KEY (a, b))")
    store.con.execute("INSERT INTO t SELECT i % 97, 'k' || (i // 97), CASE WHEN i % 5 = 0 "
                      "THEN NULL ELSE i / 3 END FROM range(5000) r(i)")
    key = ["a", "b"]
    hashes = asyncio.run(store.table_hashes("t", key, max_rows=10_000))
    assert hashes is not None
    top = asyncio.run(store.bucket_checksums("t", key, 64, 1, []))
    parents = [int(r["bucket"]) for r in from_ipc(top).to_pylist()][::3]
    for modulus, parent_mod, chosen in ((1, 1, []), (64, 1, []), (256, 64, parents)):
        direct = asyncio.run(store.bucket_checksums("t", key, modulus, parent_mod, chosen))
        kept = asyncio.run(store.checksums_of(hashes, modulus, parent_mod, chosen))
        assert _rows(kept) == _rows(direct) and _rows(direct)
    assert asyncio.run(store.table_hashes("t", key, max_rows=4999)) is None  # too big to keep


def test_a_descent_hashes_the_table_once(server: RunningServer, tmp_path: Path) -> None:
    """Kept from the descent's first call, then every level is a hit; a write to the
    table drops them (the second round must see that round's change)."""
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    with duckdb.connect(str(a)) as con:
        con.execute("CREATE TABLE things (id BIGINT PRIMARY KEY, name VARCHAR)")
        con.execute(f"INSERT INTO things SELECT i, 'n' || i FROM range({ROWS}) t(i)")
    assert run_sync(server, a, "push", "things").pushed == ROWS
    assert run_sync(server, b, "pull", "things").pulled == ROWS
    for rnd in range(2):
        with duckdb.connect(str(b)) as con:
            con.execute(f"UPDATE things SET name = name || '*' WHERE id % 1000 = {rnd}")
        assert run_sync(server, b, table="things").pushed == ROWS // 1000
        misses, hits = cache_count(server, "miss", "hashes"), cache_count(server, "hit", "hashes")
        assert run_sync(server, a, table="things").pulled == ROWS // 1000
        assert cache_count(server, "miss", "hashes") == misses + 1
        assert cache_count(server, "hit", "hashes") >= hits + 2  # the descent's levels
        with duckdb.connect(str(a)) as con:
            marked = con.execute("SELECT count(*) FROM things WHERE name LIKE '%*'").fetchone()
        assert marked == (ROWS // 1000 * (rnd + 1),)
