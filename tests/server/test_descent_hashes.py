"""A descent's levels answered from the table's row hashes, kept between levels.

The kept hashes must give exactly the answers the table gives (every level, any
parents), must never outlive a write to their table, and must be taken once per
descent: that is the point of keeping them.
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


def _rows(ipc: bytes) -> list[tuple[Any, ...]]:
    return sorted(from_ipc(ipc).to_pylist(), key=lambda r: r["bucket"])  # type: ignore[no-any-return]


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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running_server(tmp_path_factory.mktemp("descent-hashes")) as running:
        yield running


def hashes_count(server: RunningServer, outcome: str) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    found = re.search(rf'^ducksync_read_cache_total{{outcome="{outcome}",read="hashes"}} '
                      r'(\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def run_sync(server: RunningServer, path: Path, mode: str = "sync") -> Any:
    async def main() -> Any:
        local, remote = NativeLocalStore(spec=str(path)), HttpRemoteStore(url=server.url)
        try:
            report = await sync(local, remote, SyncOptions(tables=["items"]),
                                mode)  # type: ignore[arg-type]
        finally:
            await remote.aclose()
            local.close()
        return report.tables[0]

    return asyncio.run(main())


def test_a_descent_hashes_the_table_once(server: RunningServer, tmp_path: Path) -> None:
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    with duckdb.connect(str(a)) as con:
        con.execute("CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR)")
        con.execute(f"INSERT INTO items SELECT i, 'n' || i FROM range({ROWS}) t(i)")
    assert run_sync(server, a, "push").pushed == ROWS
    assert run_sync(server, b, "pull").pulled == ROWS
    for rnd in range(2):  # the second round: hashes kept from before B's write are not used
        with duckdb.connect(str(b)) as con:
            con.execute(f"UPDATE items SET name = name || '*' WHERE id % 1000 = {rnd}")
        assert run_sync(server, b).pushed == ROWS // 1000
        misses, hits = hashes_count(server, "miss"), hashes_count(server, "hit")
        seen = run_sync(server, a)
        assert seen.pulled == ROWS // 1000 and seen.error is None
        levels = hashes_count(server, "hit") - hits
        assert hashes_count(server, "miss") == misses + 1 and levels >= 2
        with duckdb.connect(str(a)) as con:
            marked = con.execute("SELECT count(*) FROM items WHERE name LIKE '%*'").fetchone()
        assert marked == (ROWS // 1000 * (rnd + 1),)
