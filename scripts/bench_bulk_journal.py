"""What the bulk push's journal costs natively (reports, does not assert).

    PYTHONPATH=py .venv/bin/python scripts/bench_bulk_journal.py [--rows 1000000] [--runs 3]

An initial push (the bulk path) of the bench table, file -> file, timed whole and the
journal's statements (``engine/bulk.py``: what each batch sends, written before it
leaves) timed alone in the same run: their share of the push, not an A/B across builds.
Prints the load average (shared machine) beside the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ducksync.engine.sync import SyncOptions, sync
from ducksync.stores.native import NativeLocalStore, NativeRemoteStore

TABLE = "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR, amount DECIMAL(12,2), qty INTEGER)"
FILL = ("INSERT INTO t SELECT i, 'customer ' || (i % 9973) || ' ' || md5(i::VARCHAR)[:8], "
        "(i % 100000) / 100, i % 1000 FROM range(?) x(i)")


class _Timed(NativeLocalStore):
    """Times the journal's inserts (the statements naming ``bulk_sent__``)."""

    journal_s = 0.0

    async def execute(self, sql: str, params: Any = ()) -> None:
        t0 = time.perf_counter()
        await super().execute(sql, params)
        if sql.startswith("INSERT") and "bulk_sent__" in sql:
            self.journal_s += time.perf_counter() - t0


async def one(folder: Path, rows: int) -> tuple[float, float, list[str]]:
    local = _Timed(spec=str(folder / "local.duckdb"))
    local.con.execute(TABLE)
    local.con.execute(FILL, [rows])
    local.con.execute("CHECKPOINT")
    remote = NativeRemoteStore(spec=str(folder / "remote.duckdb"))
    t0 = time.perf_counter()
    rep = (await sync(local, remote, SyncOptions(tables=["t"]), "sync")).tables[0]
    return time.perf_counter() - t0, local.journal_s, rep.paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.1f}")
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as d:
            push, journal, paths = asyncio.run(one(Path(d), args.rows))
        print(f"run {i}: {paths} push {push * 1000:.0f} ms, journal {journal * 1000:.0f} ms "
              f"({100 * journal / push:.1f} %)")
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
