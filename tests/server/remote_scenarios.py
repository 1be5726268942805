"""One scenario for a server in front of a cloud remote, run twice: here on the cloud
stand-in (tests/server/test_cloud_standin_server.py) and live on the real service
(tests/server/test_motherduck.py, token-gated). Running it here first is what makes the
live test trustworthy although it cannot run on these machines.

Two devices (local DuckDB files) sync through the server: every type, updates and a
delete, a compare-and-swap conflict on one row, and two writers syncing at once. Table
names carry ``prefix`` so a live run leaves its own tables (inspect them in the UI).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path
from typing import Any

import duckdb

from ducksync.engine.sync import SyncOptions, SyncReport, sync
from ducksync.stores import open_local
from ducksync.stores.http import HttpRemoteStore

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
from test_types import COLUMNS, ROW  # tests/engine is not a package


def device_sync(local: Path, url: str, tables: list[str], **opts: Any) -> SyncReport:
    async def main() -> SyncReport:
        remote = HttpRemoteStore(url=url)
        try:
            return await sync(open_local(str(local)), remote,
                              SyncOptions(tables=tables, **opts), "sync")
        finally:
            await remote.aclose()

    return asyncio.run(main())


def snapshot(path: Path, table: str) -> str:
    """The table's rows as text in key order (NaN equals NaN; every type comparable)."""
    with duckdb.connect(str(path)) as con:
        found = con.execute(f"SELECT string_agg(r::VARCHAR, chr(10) ORDER BY r.id) "
                            f"FROM {table} r").fetchall()[0][0]
    return str(found)


def run_scenario(url: str, tmp: Path, prefix: str) -> None:
    types, rows = f"{prefix}_types", f"{prefix}_rows"
    tables = [types, rows]
    a, b = tmp / "device-a.duckdb", tmp / "device-b.duckdb"
    with duckdb.connect(str(a)) as con:
        con.execute(f"CREATE TABLE {types} ({COLUMNS})")
        con.execute(f"INSERT INTO {types} VALUES {ROW}")
        con.execute(f"INSERT INTO {types} (id) VALUES (2)")  # every column NULL
        con.execute(f"CREATE TABLE {rows} (id INTEGER PRIMARY KEY, v VARCHAR)")
        con.execute(f"INSERT INTO {rows} SELECT i, 'v' || i FROM range(100) t(i)")
    first = device_sync(a, url, tables)
    assert first.converged and sum(t.pushed for t in first.tables) == 102, first
    second = device_sync(b, url, tables)
    assert second.converged and sum(t.pulled for t in second.tables) == 102, second
    assert snapshot(a, types) == snapshot(b, types), "a type did not survive the round trip"

    # updates, an insert and a delete travel
    with duckdb.connect(str(b)) as con:
        con.execute(f"UPDATE {rows} SET v = 'b' WHERE id < 5")
        con.execute(f"DELETE FROM {rows} WHERE id = 99")
        con.execute(f"INSERT INTO {rows} VALUES (100, 'new')")
    assert device_sync(b, url, tables).converged
    back = device_sync(a, url, tables)
    assert {t.table: t.pulled for t in back.tables}[rows] == 7, back
    assert snapshot(a, rows) == snapshot(b, rows)

    # compare-and-swap: both change row 50; B first, then A meets B's version
    for path, value in ((a, "from-a"), (b, "from-b")):
        with duckdb.connect(str(path)) as con:
            con.execute(f"UPDATE {rows} SET v = '{value}' WHERE id = 50")
    assert device_sync(b, url, tables).converged
    loser = {t.table: t for t in device_sync(a, url, tables, policy="remote-wins").tables}[rows]
    assert loser.error is None and loser.conflicts + loser.cas_retries >= 1, loser
    assert device_sync(a, url, tables).converged
    with duckdb.connect(str(a)) as con:
        assert con.execute(f"SELECT v FROM {rows} WHERE id = 50").fetchall() == [("from-b",)]

    # two writers at once, disjoint rows: both land, no duplicates, no error
    with duckdb.connect(str(a)) as con:
        con.execute(f"UPDATE {rows} SET v = 'a2' WHERE id BETWEEN 10 AND 19")
    with duckdb.connect(str(b)) as con:
        con.execute(f"UPDATE {rows} SET v = 'b2' WHERE id BETWEEN 20 AND 29")
    reports: dict[str, SyncReport] = {}
    threads = [threading.Thread(target=lambda p=p, n=n: reports.__setitem__(
        n, device_sync(p, url, tables, policy="remote-wins"))) for p, n in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, report in reports.items():
        assert all(t.error is None for t in report.tables), (name, report)
    for _ in range(2):  # each picks up the other's rows (and retries what a race held back)
        device_sync(a, url, tables)
        device_sync(b, url, tables)
    assert snapshot(a, rows) == snapshot(b, rows)
    with duckdb.connect(str(a)) as con:
        assert con.execute(f"SELECT count(*), count(DISTINCT id), count(*) FILTER "
                           f"(v = 'a2'), count(*) FILTER (v = 'b2') FROM {rows}"
                           ).fetchall() == [(100, 100, 10, 10)]
