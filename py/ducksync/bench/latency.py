"""Round trips, and what they cost when the remote is far away.

Loopback hides latency; a cloud remote is tens of milliseconds away. This suite syncs
small tables through a real server with ``DELAY_S`` added before every HTTP request
(:class:`~ducksync.stores.latency.CountingTransport`) and records, for the everyday
syncs (nothing changed, one row, a thousand rows either way), the wall time and the
number of requests. The same syncs on loopback give the floor: the difference is the
round trips' share.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from ducksync.bench.repo import serverutil
from ducksync.bench.results import Results

SUITE = "latency"
DELAY_S = 0.05
TABLES = ("lat_a", "lat_b", "lat_c")
ROWS = 10_000
Log = Callable[[str], None]


def _write(path: Path, *statements: str) -> None:
    import duckdb

    with duckdb.connect(str(path)) as con:
        for sql in statements:
            con.execute(sql)


async def _timed(local_path: Path, url: str, delay_s: float) -> tuple[float, int]:
    """(ms, HTTP requests) of one sync of every table."""
    from ducksync.engine.sync import SyncOptions, sync
    from ducksync.stores.http import HttpRemoteStore
    from ducksync.stores.latency import CountingTransport
    from ducksync.stores.native import NativeLocalStore

    wire = CountingTransport(delay_s=delay_s)
    remote = HttpRemoteStore(url=url, transport=wire)
    local = NativeLocalStore(spec=str(local_path))
    try:
        t0 = time.perf_counter()
        report = await sync(local, remote, SyncOptions(tables=list(TABLES)), "sync")
        ms = (time.perf_counter() - t0) * 1000
    finally:
        await remote.aclose()
        local.close()
    if not report.converged:
        raise RuntimeError(f"latency bench: a sync did not converge: {report.to_dict()}")
    return ms, wire.requests


def _record(res: Results, label: str, delay: float, timed: tuple[float, int],
            log: Log) -> None:
    ms, requests = timed
    at = f"@{delay * 1000:.0f}ms"
    res.add(SUITE, f"{label} {at}", ms, "ms",
            f"{len(TABLES)} tables of {ROWS:,} rows through the server, "
            f"{delay * 1000:.0f} ms added before each HTTP request")
    res.add(SUITE, f"{label} {at} requests", requests, "requests")
    log(f"latency {label} {at}: {ms:,.0f} ms, {requests} requests")


def run(tmp: Path, res: Results, *, log: Log) -> None:
    """Three 10k-row tables on two devices; each everyday sync at 0 and 50 ms."""
    server = serverutil().start_server(tmp)
    a, b = tmp / "lat-a.duckdb", tmp / "lat-b.duckdb"
    try:
        _write(a, *(s for t in TABLES for s in (
            f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v VARCHAR, n DOUBLE)",
            f"INSERT INTO {t} SELECT i, 'v' || i, i / 7 FROM range({ROWS}) t(i)")))
        for device in (a, b):
            asyncio.run(_timed(device, server.url, 0.0))
        pushes = [("no-op sync", ()),
                  ("1-row push", (f"UPDATE {TABLES[0]} SET v = v || '+' WHERE id = 1",)),
                  ("1k push", (f"UPDATE {TABLES[1]} SET n = n + 1 WHERE id % 10 = 3",))]
        for label, writes in pushes:
            for delay in (0.0, DELAY_S):
                _write(a, *writes)
                _record(res, label, delay, asyncio.run(_timed(a, server.url, delay)), log)
        asyncio.run(_timed(b, server.url, 0.0))  # b catches up: each pull below is one change
        for delay in (0.0, DELAY_S):
            _write(a, f"UPDATE {TABLES[2]} SET n = n + 1 WHERE id % 10 = 7")
            asyncio.run(_timed(a, server.url, 0.0))
            _record(res, "1k pull", delay, asyncio.run(_timed(b, server.url, delay)), log)
    finally:
        server.stop()
