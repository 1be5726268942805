"""Time the remote apply alone: what the server does with an initial push.

``NativeRemoteStore.apply_batch`` of 1M rows in two verified bulk batches, then the
ack, on a fresh file remote: no client engine, no HTTP, so an A/B of the remote store
(docs/remote-store.md) is not drowned in the rest of the push. Usage:
``PYTHONPATH=py .venv/bin/python scripts/bench_remote_apply.py [RUNS]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time

import duckdb

from ducksync.engine import sqlbuild as sb
from ducksync.stores._arrow import to_ipc
from ducksync.stores.native import NativeRemoteStore

COLS = {"id": "BIGINT", "name": "VARCHAR", "amount": "DECIMAL(12,2)", "qty": "INTEGER",
        "created": "TIMESTAMP"}
TABLE = ("CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR, amount DECIMAL(12,2), "
         "qty INTEGER, created TIMESTAMP)")
HALF = 500_000


def batches() -> list[tuple[bytes, str]]:
    """Two IPC batches of inserts expected absent, with the client's prediction."""
    src = duckdb.connect()
    src.execute("SET arrow_lossless_conversion = true")
    src.execute(TABLE)
    src.execute("INSERT INTO t SELECT i, 'name ' || i, (i % 1000)::DECIMAL(12,2), i % 97, "
                "TIMESTAMP '2024-01-01' + INTERVAL (i) SECOND FROM range(1000000) r(i)")
    out = []
    for lo in (0, HALF):
        where = f"WHERE id >= {lo} AND id < {lo + HALF}"
        ipc = to_ipc(src.sql(f"SELECT *, 'U' AS __ds_op, NULL::UBIGINT AS __ds_expect, "
                             f"{sb.row_hash_sql(COLS)} AS __ds_lh FROM t {where}")
                     .to_arrow_table())
        checksum = sb.checksum_sql(sb.key_hash_sql(["id"]), sb.row_hash_sql(COLS))
        out.append((ipc, str(src.execute(f"SELECT {checksum}::VARCHAR FROM t {where}")
                             .fetchall()[0][0])))
    return out


def main(runs: int) -> None:
    data = batches()
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            store = NativeRemoteStore(spec=os.path.join(tmp, "r.duckdb"))
            store.con.execute(TABLE)
            start = time.perf_counter()
            for i, (ipc, prediction) in enumerate(data):
                answer = asyncio.run(store.apply_batch("t", ["id"], f"b{i}", ipc,
                                                       checksum=prediction))
                assert answer["verified"], answer
            asyncio.run(store.ack_batches([f"b{i}" for i in range(len(data))]))
            times.append(time.perf_counter() - start)
            store.close()
    print("apply + ack, 1M rows, s:", " ".join(f"{t:.2f}" for t in times))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="?", type=int, default=3, help="timed applies")
    main(ap.parse_args().runs)
