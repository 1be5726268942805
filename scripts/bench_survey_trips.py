"""Alternating runs of the store leg's no-op and 1-row push at 50 ms per round trip, with
the one-statement survey of a store that knows the catalog and without it (the survey
as before issue 15's round-trip work: the catalog, then the checksums). Prints medians.

    PYTHONPATH=py .venv/bin/python scripts/bench_survey_trips.py [RUNS]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from ducksync.engine.sync import SyncOptions, sync
from ducksync.stores.native import NativeConnector, NativeLocalStore
from ducksync.stores.sql_remote import SqlRemoteStore
from ducksync.stores.standin import CloudStandIn

TABLES = ["lat_a", "lat_b", "lat_c"]


async def _never(self: SqlRemoteStore, tables: Any, key: Any) -> None:
    return None


def timed(local: Path, store: SqlRemoteStore, cloud: CloudStandIn) -> tuple[float, int]:
    cloud.reset()
    con = NativeLocalStore(spec=str(local))
    try:
        t0 = time.perf_counter()
        report = asyncio.run(sync(con, store, SyncOptions(tables=TABLES), "sync"))
        ms = (time.perf_counter() - t0) * 1000
    finally:
        con.close()
    assert report.converged
    return ms, cloud.round_trips


def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        local, remote = Path(tmp) / "local.duckdb", Path(tmp) / "cloud.duckdb"
        with duckdb.connect(str(local)) as con:
            for t in TABLES:
                con.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v VARCHAR, n DOUBLE)")
                con.execute(f"INSERT INTO {t} SELECT i, 'v' || i, i / 7 FROM range(10000) t(i)")
        inner = NativeConnector(spec=str(remote))
        cloud = CloudStandIn(inner=inner)
        known = SqlRemoteStore(connector=cloud)
        before = SqlRemoteStore(connector=cloud)
        before._survey_known = _never.__get__(before)  # type: ignore[method-assign]
        timed(local, known, cloud)
        out: dict[str, list[tuple[float, int]]] = {}
        for _ in range(runs):
            for name, store in (("before", before), ("after", known)):
                cloud.delay_s = 0.05
                out.setdefault(f"no-op {name}", []).append(timed(local, store, cloud))
                with duckdb.connect(str(local)) as con:
                    con.execute("UPDATE lat_a SET v = v || '+' WHERE id = 1")
                out.setdefault(f"1-row push {name}", []).append(timed(local, store, cloud))
        inner.close()
    for name, got in out.items():
        ms = [m for m, _ in got]
        print(f"{name}: median {statistics.median(ms):,.0f} ms "
              f"({', '.join(f'{m:,.0f}' for m in ms)}), round trips {sorted({r for _, r in got})}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="?", type=int, default=7, help="alternated runs of each")
    main(ap.parse_args().runs)
