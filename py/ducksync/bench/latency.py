"""Round trips, and what they cost when the remote is far away.

Loopback hides latency; a cloud remote is tens of milliseconds away. This suite runs the
everyday syncs (nothing changed, one row, a thousand rows either way) of small tables
at 0 and ``DELAY_S``, on the two legs where the distance is:

* device → server: through a real server with ``DELAY_S`` before every HTTP request
  (:class:`~ducksync.stores.latency.CountingTransport`), counting requests;
* store → cloud database (what the server, or the page's direct transport, pays): the
  one remote store over the cloud stand-in (:class:`~ducksync.stores.standin.CloudStandIn`,
  temp tables on the client's engine) with ``DELAY_S`` before every statement, counting
  statements.

The same syncs at 0 give the floor: the difference is the round trips' share.
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


Timed = Callable[[Path, float], tuple[float, int]]


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


async def _timed_store(local_path: Path, cloud_path: Path, delay_s: float) -> tuple[float, int]:
    """(ms, statements) of one sync of every table against the cloud stand-in."""
    from ducksync.engine.sync import SyncOptions, sync
    from ducksync.stores.native import NativeLocalStore
    from ducksync.stores.sql_remote import SqlRemoteStore
    from ducksync.stores.standin import CloudStandIn

    inner = NativeLocalStore(spec=str(cloud_path))
    inner.con.execute("SET arrow_lossless_conversion = true")
    cloud = CloudStandIn(inner=inner, delay_s=delay_s)
    local = NativeLocalStore(spec=str(local_path))
    try:
        t0 = time.perf_counter()
        report = await sync(local, SqlRemoteStore(connector=cloud),
                            SyncOptions(tables=list(TABLES)), "sync")
        ms = (time.perf_counter() - t0) * 1000
    finally:
        local.close()
        inner.close()
    if not report.converged:
        raise RuntimeError(f"latency bench: a sync did not converge: {report.to_dict()}")
    return ms, cloud.round_trips


def _record(res: Results, name: str, unit: str, delay: float, timed: tuple[float, int],
            log: Log) -> None:
    ms, count = timed
    at = f"@{delay * 1000:.0f}ms"
    res.add(SUITE, f"{name} {at}", ms, "ms",
            f"{len(TABLES)} tables of {ROWS:,} rows, {delay * 1000:.0f} ms added before each "
            + ("HTTP request" if unit == "requests" else "statement at the cloud stand-in"))
    res.add(SUITE, f"{name} {at} {unit}", count, unit)
    log(f"latency {name} {at}: {ms:,.0f} ms, {count} {unit}")


def _everyday(tmp: Path, res: Results, prefix: str, unit: str, timed: Timed,
              log: Log) -> None:
    """Both devices start synced; then each everyday sync at 0 and ``DELAY_S``."""
    a, b = tmp / f"{prefix or 'http'}-a.duckdb", tmp / f"{prefix or 'http'}-b.duckdb"
    _write(a, *(s for t in TABLES for s in (
        f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v VARCHAR, n DOUBLE)",
        f"INSERT INTO {t} SELECT i, 'v' || i, i / 7 FROM range({ROWS}) t(i)")))
    for device in (a, b):
        timed(device, 0.0)
    pushes = [("no-op sync", ()),
              ("1-row push", (f"UPDATE {TABLES[0]} SET v = v || '+' WHERE id = 1",)),
              ("1k push", (f"UPDATE {TABLES[1]} SET n = n + 1 WHERE id % 10 = 3",))]
    for label, writes in pushes:
        for delay in (0.0, DELAY_S):
            _write(a, *writes)
            _record(res, prefix + label, unit, delay, timed(a, delay), log)
    timed(b, 0.0)  # b catches up: each pull below is one change
    for delay in (0.0, DELAY_S):
        _write(a, f"UPDATE {TABLES[2]} SET n = n + 1 WHERE id % 10 = 7")
        timed(a, 0.0)
        _record(res, prefix + "1k pull", unit, delay, timed(b, delay), log)


def run(tmp: Path, res: Results, *, log: Log) -> None:
    """Three 10k-row tables on two devices, over each leg."""
    server = serverutil().start_server(tmp)
    try:
        _everyday(tmp, res, "", "requests",
                  lambda path, delay: asyncio.run(_timed(path, server.url, delay)), log)
    finally:
        server.stop()
    cloud = tmp / "cloud.duckdb"
    _everyday(tmp, res, "store ", "statements",
              lambda path, delay: asyncio.run(_timed_store(path, cloud, delay)), log)
