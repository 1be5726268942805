"""Round trips, and what they cost when the remote is far away.

Loopback hides latency; a cloud remote is tens of milliseconds away. This suite runs the
everyday syncs (nothing changed, one row, a thousand rows either way) of small tables
at 0 and ``DELAY_S``, on the two legs where the distance is:

* device → server: through a real server with ``DELAY_S`` before every HTTP request
  (:class:`~ducksync.stores.latency.CountingTransport`), counting requests;
* store → cloud database (what the server, or the page's direct transport, pays): the
  one remote store over the cloud stand-in (:class:`~ducksync.stores.standin.CloudStandIn`,
  temp tables on the client's engine) with ``DELAY_S`` before every call (a statement or
  a script of them) that reaches it, counting those round trips and all calls;
* both at once: device → server → cloud, the real app in this process with its remote
  store over the stand-in (an ``md:`` backend, as ``tests/server/test_cloud_standin_server.py``
  runs it), ``DELAY_S`` on each leg;
* the page: the same syncs run by the page in Chromium, ``DELAY_S`` between the page and
  the server (:mod:`ducksync.bench.page_latency`), on a file and on both legs.

The same syncs at 0 give the floor: the difference is the round trips' share.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


Timed = Callable[[Path, float], tuple[float, int, int]]  # (ms, round trips, other count)


async def _timed(local_path: Path, url: str, delay_s: float,
                 clouds: list[Any] | None = None) -> tuple[float, int, int]:
    """(ms, HTTP requests, calls at the cloud stand-in behind the server) of one sync
    of every table; ``clouds``: the stand-ins of the server's stores (their delay is
    set to ``delay_s`` too), None: a server on a file."""
    from ducksync.engine.sync import SyncOptions, sync
    from ducksync.stores.http import HttpRemoteStore
    from ducksync.stores.latency import CountingTransport
    from ducksync.stores.native import NativeLocalStore

    for cloud in clouds or []:
        cloud.delay_s = delay_s
        cloud.reset()
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
    return ms, wire.requests, sum(c.round_trips for c in clouds or [])


async def _timed_store(local_path: Path, store: Any, cloud: Any,
                       delay_s: float) -> tuple[float, int, int]:
    """(ms, round trips, calls) of one sync of every table against the cloud stand-in
    ``cloud`` under ``store``: calls that touch temp tables only stay on the client (no
    round trip)."""
    from ducksync.engine.sync import SyncOptions, sync
    from ducksync.stores.native import NativeLocalStore

    cloud.delay_s = delay_s
    cloud.reset()
    local = NativeLocalStore(spec=str(local_path))
    try:
        t0 = time.perf_counter()
        report = await sync(local, store, SyncOptions(tables=list(TABLES)), "sync")
        ms = (time.perf_counter() - t0) * 1000
    finally:
        local.close()
    if not report.converged:
        raise RuntimeError(f"latency bench: a sync did not converge: {report.to_dict()}")
    return ms, cloud.round_trips, cloud.calls


@contextmanager
def _store_leg(cloud_path: Path) -> Iterator[Timed]:
    """Timed syncs over the store leg, each device with its own remote store kept across
    its syncs, as a server's pooled store or a page's is (a store's first survey reads
    the catalog alone: one round trip more, ``tests/engine/test_cloud_standin.py``)."""
    from ducksync.stores.native import NativeConnector
    from ducksync.stores.sql_remote import SqlRemoteStore
    from ducksync.stores.standin import CloudStandIn

    legs: dict[Path, tuple[Any, Any, SqlRemoteStore]] = {}

    def timed(local_path: Path, delay_s: float) -> tuple[float, int, int]:
        if local_path not in legs:
            inner = NativeConnector(spec=str(cloud_path))
            cloud = CloudStandIn(inner=inner)
            legs[local_path] = (inner, cloud, SqlRemoteStore(connector=cloud))
        _, cloud, store = legs[local_path]
        return asyncio.run(_timed_store(local_path, store, cloud, delay_s))

    try:
        yield timed
    finally:
        for inner, _, _ in legs.values():
            inner.close()


@contextmanager
def cloud_server(tmp: Path) -> Iterator[tuple[str, list[Any]]]:
    """The real app, in this process, on an ``md:`` remote that is the cloud stand-in
    over a DuckDB file: ``(url, the stand-ins of its pooled stores)``. The token is a
    placeholder the stand-in is given (the ``md:`` path requires one)."""
    import duckdb
    import uvicorn

    from ducksync.server.app import create_app
    from ducksync.server.remote import RemoteDatabase
    from ducksync.server.settings import Settings
    from ducksync.stores.native import NativeConnector
    from ducksync.stores.sql_remote import SqlRemoteStore
    from ducksync.stores.standin import CloudStandIn

    path, clouds = tmp / "cloud-behind-server.duckdb", list[Any]()

    def store(cursor: Any) -> SqlRemoteStore:
        cloud = CloudStandIn(inner=NativeConnector(spec="md:cloud", con=cursor, threaded=False),
                             database="cloud")
        clouds.append(cloud)
        out = SqlRemoteStore(connector=cloud)
        out.con = cursor  # type: ignore[attr-defined]  # the pool interrupts it
        out.close = cursor.close  # type: ignore[attr-defined]
        return out

    def opener(spec: str, config: dict[str, Any]) -> Any:
        con = duckdb.connect(str(path))
        con.execute("SET arrow_lossless_conversion = true")
        return con

    port = serverutil().free_port()
    saved = os.environ.get("MOTHERDUCK_TOKEN")
    os.environ["MOTHERDUCK_TOKEN"] = "stand-in"
    app = create_app(Settings(remote="md:cloud", port=port, log_json=False),
                     database=RemoteDatabase(spec="md:cloud", opener=opener),
                     store_factory=store)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    try:
        while not server.started:  # readiness: uvicorn's own flag, bounded
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("latency bench: the in-process server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}", clouds
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        if saved is None:
            os.environ.pop("MOTHERDUCK_TOKEN", None)
        else:
            os.environ["MOTHERDUCK_TOKEN"] = saved


def record(res: Results, name: str, unit: str, delay: float,
            timed: tuple[float, int, int], log: Log) -> None:
    ms, count, behind = timed
    at = f"@{delay * 1000:.0f}ms"
    where = {"requests": "HTTP request", "round trips": "call at the cloud stand-in",
             "both": "HTTP request and before each call at the cloud stand-in"}[unit]
    res.add(SUITE, f"{name} {at}", ms, "ms",
            f"{len(TABLES)} tables of {ROWS:,} rows, {delay * 1000:.0f} ms added before each "
            + where)
    if unit == "round trips":
        res.add(SUITE, f"{name} {at} round trips", count, "round trips")
        res.add(SUITE, f"{name} {at} calls", behind, "calls")
        log(f"latency {name} {at}: {ms:,.0f} ms, {count} round trips, {behind} calls")
        return
    res.add(SUITE, f"{name} {at} requests", count, "requests")
    if unit == "both":
        res.add(SUITE, f"{name} {at} store round trips", behind, "round trips")
    log(f"latency {name} {at}: {ms:,.0f} ms, {count} requests"
        + (f", {behind} store round trips" if unit == "both" else ""))


def _everyday(tmp: Path, res: Results, prefix: str, unit: str, timed: Timed,
              log: Log) -> None:
    """Both devices start synced; then each everyday sync at 0 and ``DELAY_S``."""
    name = prefix.strip().replace(" ", "-") or "http"
    a, b = tmp / f"{name}-a.duckdb", tmp / f"{name}-b.duckdb"
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
            record(res, prefix + label, unit, delay, timed(a, delay), log)
    timed(b, 0.0)  # b catches up: each pull below is one change
    for delay in (0.0, DELAY_S):
        _write(a, f"UPDATE {TABLES[2]} SET n = n + 1 WHERE id % 10 = 7")
        timed(a, 0.0)
        record(res, prefix + "1k pull", unit, delay, timed(b, delay), log)


def run(tmp: Path, res: Results, *, log: Log) -> None:
    """Three 10k-row tables on two devices, over each leg, then over both at once."""
    server = serverutil().start_server(tmp)
    try:
        _everyday(tmp, res, "", "requests",
                  lambda path, delay: asyncio.run(_timed(path, server.url, delay)), log)
    finally:
        server.stop()
    with _store_leg(tmp / "cloud.duckdb") as timed:
        _everyday(tmp, res, "store ", "round trips", timed, log)
    with cloud_server(tmp) as (url, clouds):
        _everyday(tmp, res, "both legs ", "both",
                  lambda path, delay: asyncio.run(_timed(path, url, delay, clouds)), log)
    from ducksync.bench import page_latency

    (tmp / "page").mkdir()
    page_latency.run(tmp / "page", res, log=log)
