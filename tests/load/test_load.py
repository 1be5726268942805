"""Bounded loopback load test: N concurrent clients syncing through the real server.

Each client runs small-change sync cycles over the wire, exactly what the engine
sends when a few rows changed: bucket checksums, one apply_batch of 20 rows in
its own key range (CAS + ledger), ack. Reports throughput, p50/p99 latency per
cycle and errors; the target is 0 errors at 50 clients.

    .venv/bin/pytest -m slow tests/load -s          # N=50, 8 s
    DUCKSYNC_LOAD_CLIENTS=100 DUCKSYNC_LOAD_SECONDS=20 .venv/bin/pytest -m slow tests/load -s
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

import pyarrow as pa
import pytest

from ducksync.stores.http import HttpRemoteStore
from serverutil import running_server

CLIENTS = int(os.environ.get("DUCKSYNC_LOAD_CLIENTS", "50"))
SECONDS = float(os.environ.get("DUCKSYNC_LOAD_SECONDS", "8"))
ROWS_PER_BATCH = 20
COLUMNS = [{"name": "id", "type": "BIGINT", "nullable": False},
           {"name": "client", "type": "INTEGER", "nullable": True},
           {"name": "payload", "type": "VARCHAR", "nullable": True}]


def _batch(client: int, cycle: int, expect: list[int | None]) -> bytes:
    ids = [client * 1_000_000 + i for i in range(ROWS_PER_BATCH)]
    table = pa.table({
        "id": pa.array(ids, pa.int64()), "client": pa.array([client] * ROWS_PER_BATCH, pa.int32()),
        "payload": pa.array([f"c{client}-cycle{cycle}-{i}" for i in range(ROWS_PER_BATCH)]),
        "__ds_op": pa.array(["U"] * ROWS_PER_BATCH),
        "__ds_expect": pa.array(expect, pa.uint64()),
        "__ds_lh": pa.array(range(ROWS_PER_BATCH), pa.uint64())})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


async def _client(url: str, n: int, stop_at: float, latencies: list[float],
                  errors: list[str]) -> None:
    store = HttpRemoteStore(url=url, retries=0)
    expect: list[int | None] = [None] * ROWS_PER_BATCH
    cycle = 0
    try:
        # Every client completes at least one cycle, however slow the machine: the claim
        # is "no errors with this many concurrent clients", not a throughput figure.
        while cycle == 0 or time.monotonic() < stop_at:
            start = time.perf_counter()
            try:
                await store.bucket_checksums("load_items", ["id"], 64, 1, [])
                result = await store.apply_batch("load_items", ["id"], f"load-{n}-{cycle}",
                                                 _batch(n, cycle, expect))
                rows = pa.ipc.open_stream(result["result"]).read_all()
                if set(rows.column("__ds_status").to_pylist()) != {"ok"}:
                    errors.append(f"client {n} cycle {cycle}: unexpected conflict")
                # The next cycle's compare-and-swap expects the hashes the server now holds.
                by_id = dict(zip(rows.column("id").to_pylist(),
                                 rows.column("__ds_rh").to_pylist(), strict=True))
                expect = [by_id[n * 1_000_000 + i] for i in range(ROWS_PER_BATCH)]
                await store.ack_batches([f"load-{n}-{cycle}"])
            except Exception as exc:
                errors.append(f"client {n}: {type(exc).__name__}: {exc}")
            latencies.append(time.perf_counter() - start)
            cycle += 1
    finally:
        await store.aclose()


async def _run(url: str) -> dict[str, Any]:
    setup = HttpRemoteStore(url=url)
    await setup.create_table("load_items", COLUMNS, ["id"])
    await setup.aclose()
    latencies: list[float] = []
    errors: list[str] = []
    started = time.monotonic()
    await asyncio.gather(*(_client(url, n, started + SECONDS, latencies, errors)
                           for n in range(CLIENTS)))
    elapsed = time.monotonic() - started
    ordered = sorted(latencies)
    return {"clients": CLIENTS, "seconds": round(elapsed, 1), "cycles": len(latencies),
            "cycles_per_s": round(len(latencies) / elapsed, 1),
            "requests_per_s": round(3 * len(latencies) / elapsed, 1),
            "rows_per_s": round(ROWS_PER_BATCH * len(latencies) / elapsed, 1),
            "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 1),
            "errors": len(errors), "first_errors": errors[:3]}


@pytest.mark.slow
def test_fifty_clients_sync_concurrently_without_errors(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    env = {"DUCKSYNC_RATE_LIMIT": "0", "DUCKSYNC_LOG_JSON": "1"}
    with running_server(tmp_path_factory.mktemp("load"), env=env) as server:
        report = asyncio.run(_run(server.url))
    print(f"\nload: {report}")
    assert report["errors"] == 0, report["first_errors"]
    assert report["cycles"] >= CLIENTS
