"""Quick native measurement of the sync engine (reports, does not assert).

    .venv/bin/python scripts/bench_engine.py [--rows 1000000]

Compares the initial push with the seed's approach (string-built INSERT ... VALUES,
1000 rows per statement, timed on a 50k-row sample before and after, extrapolated),
then times a no-op sync, 1k local / remote updates, 1k remote appends (with and
without the watermark hint), and measures batch compression. Prints each run's
phase timings (``TableReport.timings``) and the load average (shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
# --exact-types: the same table plus a DOUBLE and an INTERVAL column, whose row hashes
# pay for representation exactness (docs/engine.md); the bench table alone has none.
EXACT_COLUMNS = (", score DOUBLE, wait INTERVAL)", ", (i % 977) * 0.5 - 100, "
                 "to_days((i % 90)::INTEGER) + to_seconds(i % 86400) FROM range")


def seed_rate(d: Path, n: int = 50_000) -> float:
    """Rows/s of the seed: INSERT ... VALUES strings of 1000 rows."""
    import duckdb

    src, dst = duckdb.connect(), duckdb.connect(str(d / f"seed{time.time_ns()}.db"))
    src.execute(TABLE)
    src.execute(FILL, [n])
    dst.execute(TABLE)
    data = src.execute("SELECT * FROM t").fetchall()
    t0 = time.perf_counter()
    for i in range(0, n, 1000):
        chunk = data[i:i + 1000]
        values = ", ".join(f"({r[0]}, '{r[1]}', {r[2]}, {r[3]}, '{r[4]}')" for r in chunk)
        dst.execute(f"INSERT INTO t (id, name, amount, qty, created) VALUES {values}")
    return n / (time.perf_counter() - t0)


def _phases(rep: object) -> str:
    timings = getattr(rep, "timings", {})
    return ", ".join(f"{k} {v:.0f}" for k, v in sorted(timings.items(), key=lambda kv: -kv[1])
                     if v >= 1)


def floor_seconds(d: Path, rows: int) -> float:
    """DuckDB alone: Arrow -> empty PK table in a file + COMMIT (what any push pays)."""
    import duckdb

    src, dst = duckdb.connect(), duckdb.connect(str(d / f"floor{time.time_ns()}.db"))
    src.execute(TABLE)
    src.execute(FILL, [rows])
    data = src.sql("SELECT * FROM t").to_arrow_table()
    dst.execute(TABLE)
    dst.register("data", data)
    t0 = time.perf_counter()
    dst.execute("BEGIN")
    dst.execute("INSERT INTO t SELECT * FROM data")
    dst.execute("COMMIT")
    return time.perf_counter() - t0


async def main(rows: int, exact_types: bool) -> None:
    global TABLE, FILL
    if exact_types:
        TABLE = TABLE[:-1] + EXACT_COLUMNS[0]
        FILL = FILL.replace(" FROM range", EXACT_COLUMNS[1])
    d = Path(tempfile.mkdtemp())
    print(f"load average before: {os.getloadavg()}")
    seed_before = seed_rate(d)
    floor_before = floor_seconds(d, rows)
    local = NativeLocalStore(spec=str(d / "local.db"))
    remote = NativeRemoteStore(spec=str(d / "remote.db"))
    local.con.execute(TABLE)
    local.con.execute(FILL, [rows])
    table_bytes = len(to_ipc(local.con.sql("SELECT * FROM t").to_arrow_table()))
    opts = SyncOptions(tables=["t"])

    async def timed(label: str, o: SyncOptions = opts) -> tuple[float, object]:
        t0 = time.perf_counter()
        rep = (await sync(local, remote, o)).tables[0]
        s = time.perf_counter() - t0
        moved = rep.bytes_sent + rep.bytes_received
        print(f"{label:<30} {s * 1000:8.0f} ms  pushed {rep.pushed:>8}  pulled {rep.pulled:>5}  "
              f"sent {rep.bytes_sent:>11,} B  received {rep.bytes_received:>10,} B  "
              f"({100 * moved / table_bytes:.3f}% of table)  calls {rep.remote_calls}  "
              f"paths {rep.paths}")
        print(f"{'':<30} phases (ms): {_phases(rep)}")
        return s, rep

    print(f"table: {rows:,} rows, {table_bytes:,} B as Arrow IPC")
    first, _ = await timed("initial push")
    noop, _ = await timed("no-op sync")
    local.con.execute("UPDATE t SET qty = qty + 1 WHERE id IN "
                      "(SELECT id FROM t USING SAMPLE 1000 ROWS)")
    await timed("1k random local updates")
    # remote-side changes: the pull path (bucket descent)
    remote.con.execute("UPDATE t SET qty = qty + 1 WHERE id IN "
                       "(SELECT id FROM t USING SAMPLE 1000 ROWS)")
    await timed("1k random remote updates")
    # append-only: 1k new rows on the remote, without and with the watermark hint
    append = FILL.replace("range(?) x(i)", "range(?, ?) x(i)")
    remote.con.execute(append, [rows, rows + 1000])
    await timed("1k remote appends")
    hint = SyncOptions(tables=["t"], watermark="id")
    await sync(local, remote, hint)  # records the cursor
    remote.con.execute(append, [rows + 1000, rows + 2000])
    await timed("1k remote appends, watermark", hint)
    floor_after = floor_seconds(d, rows)
    floor = (floor_before + floor_after) / 2
    seed_after = seed_rate(d)
    seed = (seed_before + seed_after) / 2
    print(f"load average after: {os.getloadavg()}")
    print(f"seed INSERT VALUES: {seed_before:,.0f} / {seed_after:,.0f} rows/s (before/after) -> "
          f"{rows / seed:.1f} s for {rows:,} rows; engine initial push {rows / first:,.0f} rows/s"
          f" = {rows / seed / first:.0f}x; no-op = {100 * noop / first:.1f}% of initial push")
    print(f"floor (duckdb alone: Arrow -> empty PK table in a file, COMMIT): {floor_before:.2f}"
          f" / {floor_after:.2f} s (before/after) = "
          f"{rows / seed / floor:.0f}x the seed; initial push = {first / floor:.1f}x the floor")
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
    ap.add_argument("--exact-types", action="store_true",
                    help="add a DOUBLE and an INTERVAL column to the table")
    args = ap.parse_args()
    asyncio.run(main(args.rows, args.exact_types))
