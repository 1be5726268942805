"""Measure backup speed natively: rows/s for SQL and CSV export and import.

Usage: .venv/bin/python scripts/bench_backup.py [ROWS]   (default 1000000)
"""

from __future__ import annotations

import argparse
import asyncio
import io
import time

from ducksync.backup import export_csv, export_sql, import_csv, import_sql
from ducksync.stores.native import NativeLocalStore


async def main(rows: int) -> None:
    src = NativeLocalStore(spec=":memory:")
    src.con.execute(
        "CREATE TABLE bench AS SELECT range AS id, 'name ' || range AS name, "
        "(range % 1000) * 0.01::DECIMAL(10,2) AS price, TIMESTAMP '2024-01-01' + "
        "to_seconds(range) AS at, range % 3 = 0 AS flag FROM range(?)", [rows])

    t = time.perf_counter()
    chunks = [c async for c in export_sql(src)]
    sql_s = time.perf_counter() - t
    size = sum(len(c) for c in chunks)
    print(f"sql export: {rows / sql_s:,.0f} rows/s ({sql_s:.2f} s, {size / 1e6:.0f} MB, "
          f"{len(chunks)} chunks, largest {max(map(len, chunks)) / 1e6:.2f} MB)")

    t = time.perf_counter()
    buf = io.BytesIO()
    await export_csv(src, buf)
    csv_s = time.perf_counter() - t
    print(f"csv export: {rows / csv_s:,.0f} rows/s ({csv_s:.2f} s, "
          f"{buf.tell() / 1e6:.0f} MB zip)")

    t = time.perf_counter()
    buf.seek(0)
    await import_csv(NativeLocalStore(spec=":memory:"), buf)
    s = time.perf_counter() - t
    print(f"csv import: {rows / s:,.0f} rows/s ({s:.2f} s)")

    t = time.perf_counter()
    await import_sql(NativeLocalStore(spec=":memory:"), chunks)
    s = time.perf_counter() - t
    print(f"sql import: {rows / s:,.0f} rows/s ({s:.2f} s)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rows", nargs="?", type=int, default=1_000_000, help="rows to back up")
    asyncio.run(main(ap.parse_args().rows))
