"""Quick native measurement of the sync engine (reports, does not assert).

    .venv/bin/python scripts/bench_engine.py [--rows 1000000]

Compares the initial push with the seed's approach (string-built INSERT ... VALUES,
1000 rows per statement, timed on a sample and extrapolated), then times a no-op
sync and a 1k-row change, and measures batch compression.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from ducksync.engine import codec
from ducksync.engine.sync import SyncOptions, sync
from ducksync.stores._arrow import to_ipc
from ducksync.stores.native import NativeLocalStore, NativeRemoteStore

TABLE = ("CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR, amount DECIMAL(12,2), "
         "qty INTEGER, created TIMESTAMP)")
FILL = ("INSERT INTO t SELECT i, 'customer ' || (i % 9973) || ' ' || md5(i::VARCHAR)[:8], "
        "(i % 100000) / 100, i % 1000, TIMESTAMP '2024-01-01' + INTERVAL (i) SECOND "
        "FROM range(?) x(i)")


def seed_rate(d: Path, n: int = 50_000) -> float:
    """Rows/s of the seed: INSERT ... VALUES strings of 1000 rows."""
    import duckdb

    src, dst = duckdb.connect(), duckdb.connect(str(d / "seed.db"))
    src.execute(TABLE)
    src.execute(FILL, [n])
    dst.execute(TABLE)
    data = src.execute("SELECT * FROM t").fetchall()
    t0 = time.perf_counter()
    for i in range(0, n, 1000):
        chunk = data[i:i + 1000]
        values = ", ".join(f"({r[0]}, '{r[1]}', {r[2]}, {r[3]}, '{r[4]}')" for r in chunk)
        dst.execute(f"INSERT INTO t VALUES {values}")
    return n / (time.perf_counter() - t0)


async def main(rows: int) -> None:
    d = Path(tempfile.mkdtemp())
    local = NativeLocalStore(spec=str(d / "local.db"))
    remote = NativeRemoteStore(spec=str(d / "remote.db"))
    local.con.execute(TABLE)
    local.con.execute(FILL, [rows])
    table_bytes = len(to_ipc(local.con.sql("SELECT * FROM t").to_arrow_table()))
    opts = SyncOptions(tables=["t"])

    async def timed(label: str) -> float:
        t0 = time.perf_counter()
        rep = (await sync(local, remote, opts)).tables[0]
        s = time.perf_counter() - t0
        print(f"{label:<28} {s * 1000:9.0f} ms  pushed {rep.pushed:>8}  "
              f"sent {rep.bytes_sent:>11,} B  received {rep.bytes_received:>9,} B  "
              f"calls {rep.remote_calls}")
        return s

    print(f"table: {rows:,} rows, {table_bytes:,} B as Arrow IPC")
    first = await timed("initial push")
    noop = await timed("no-op sync")
    local.con.execute("UPDATE t SET qty = qty + 1 WHERE id IN "
                      "(SELECT id FROM t USING SAMPLE 1000 ROWS)")
    t0 = time.perf_counter()
    rep = (await sync(local, remote, opts)).tables[0]
    change = time.perf_counter() - t0
    print(f"{'1k random updates':<28} {change * 1000:9.0f} ms  pushed {rep.pushed:>8}  "
          f"sent {rep.bytes_sent:>11,} B  ({100 * rep.bytes_sent / table_bytes:.3f}% of table)")
    # remote-side changes: the pull path (bucket descent)
    remote.con.execute("UPDATE t SET qty = qty + 1 WHERE id IN "
                       "(SELECT id FROM t USING SAMPLE 1000 ROWS)")
    t0 = time.perf_counter()
    rep = (await sync(local, remote, opts)).tables[0]
    moved = rep.bytes_sent + rep.bytes_received
    print(f"{'1k random remote updates':<28} {(time.perf_counter() - t0) * 1000:9.0f} ms  "
          f"pulled {rep.pulled:>8}  moved {moved:,} B ({100 * moved / table_bytes:.3f}% "
          f"of table), calls {rep.remote_calls}")
    seed = seed_rate(d)
    print(f"seed INSERT VALUES: {seed:,.0f} rows/s -> {rows / seed:.1f} s for {rows:,} rows; "
          f"engine initial push {rows / first:,.0f} rows/s = {rows / seed / first:.0f}x; "
          f"no-op = {100 * noop / first:.1f}% of initial push")
    batch = to_ipc(local.con.sql("SELECT * FROM t LIMIT 100000").to_arrow_table())
    for c in codec.available():
        t0 = time.perf_counter()
        z = codec.encode(batch, c)
        enc = time.perf_counter() - t0
        t0 = time.perf_counter()
        codec.decode(z)
        dec = time.perf_counter() - t0
        print(f"{c}: 100k-row batch {len(batch):,} -> {len(z):,} B "
              f"({len(z) / len(batch):.0%}), encode {enc * 1000:.0f} ms, decode {dec * 1000:.0f} ms"
              f" -> pays below ~{(len(batch) - len(z)) * 8 / enc / 1e6:.0f} Mbit/s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    asyncio.run(main(ap.parse_args().rows))
