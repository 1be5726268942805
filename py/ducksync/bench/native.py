"""The CLI path, natively: file → file, file → real server (HTTP store), and the yardsticks.

Yardsticks in the same run: the seed's ``INSERT ... VALUES`` (on a sample,
extrapolated) and duckdb's own Arrow export + ingest into a fresh file with the same
primary key (no network, no engine) — the fastest a push or a pull could be on this
machine. The yardstick is taken once up front and again just before each timed pull
(the same load as the pull it is compared with), its median kept.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ducksync.bench import data, seed
from ducksync.bench.repo import serverutil
from ducksync.bench.results import Results, median, phases

SUITE = "native"
Log = Callable[[str], None]


def make_source(path: Path, rows: int) -> int:
    """A duckdb file with the benchmark table; returns its size as Arrow IPC bytes."""
    import duckdb

    from ducksync.stores._arrow import to_ipc

    con = duckdb.connect(str(path))
    con.execute(data.create_sql())
    con.execute(data.fill_sql(rows))
    con.execute("CHECKPOINT")
    size = len(to_ipc(con.sql(f"SELECT * FROM {data.TABLE}").to_arrow_table()))
    con.close()
    return size


def reference(src: Path, dst: Path) -> tuple[float, float]:
    """(export ms, ingest ms): Arrow IPC out of one duckdb file, into a fresh one."""
    import duckdb
    import pyarrow as pa  # type: ignore[import-untyped]

    from ducksync.stores._arrow import to_ipc

    a, b = duckdb.connect(str(src), read_only=True), duckdb.connect(str(dst))
    t0 = time.perf_counter()
    ipc = to_ipc(a.sql(f"SELECT * FROM {data.TABLE}").to_arrow_table())
    t1 = time.perf_counter()
    b.register("__ipc", pa.ipc.open_stream(ipc).read_all())
    b.execute(data.create_sql())
    b.execute(f"INSERT INTO {data.TABLE} SELECT * FROM __ipc")
    b.execute("CHECKPOINT")
    t2 = time.perf_counter()
    a.close()
    b.close()
    return (t1 - t0) * 1000, (t2 - t1) * 1000


def metrics_bytes(url: str) -> float:
    """Sum of the server's ``ducksync_sync_bytes`` counters (Arrow bytes in + out)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("ducksync_sync_bytes_total"))


async def _sync(local: Any, remote: Any, mode: str) -> tuple[float, Any]:
    from ducksync.engine.sync import SyncOptions, sync

    t0 = time.perf_counter()
    report = await sync(local, remote, SyncOptions(tables=[data.TABLE]), mode)  # type: ignore[arg-type]
    ms = (time.perf_counter() - t0) * 1000
    table = report.tables[0]
    if table.error:
        raise RuntimeError(f"{mode} failed: {table.error}")
    return ms, table


def _wire(t: Any) -> int:
    return int(t.bytes_sent + t.bytes_received)


async def _file_to_file(tmp: Path, src: Path, res: Results, rows: int) -> None:
    from ducksync.stores.native import NativeLocalStore, NativeRemoteStore

    shutil.copy(src, tmp / "ff-local.duckdb")
    local = NativeLocalStore(spec=str(tmp / "ff-local.duckdb"))
    remote = NativeRemoteStore(spec=str(tmp / "ff-remote.duckdb"))
    fresh = NativeLocalStore(spec=str(tmp / "ff-new-device.duckdb"))
    try:
        ms, _ = await _sync(local, remote, "push")
        res.add(SUITE, "push file→file ms", ms, "ms", "engine push, native remote store")
        res.add(SUITE, "push file→file rows/s", rows / ms * 1000, "rows/s")
        ms, t = await _sync(fresh, remote, "pull")
        res.add(SUITE, "pull file→file ms", ms, "ms", "; ".join(x for x in (
            "initial pull of that table into a new file (bootstrap), native remote store",
            phases(getattr(t, "timings", None))) if x))
    finally:
        local.close()
        remote.close()
        fresh.close()


async def _first_push(tmp: Path, src: Path, run: int) -> tuple[Any, Any, float, Any]:
    """One initial push of a fresh copy of ``src`` into a fresh server (its own remote
    file): ``(local store, server, ms, table report)``; the caller closes both."""
    from ducksync.stores.http import HttpRemoteStore
    from ducksync.stores.native import NativeLocalStore

    shutil.copy(src, tmp / f"http-local-{run}.duckdb")
    local = NativeLocalStore(spec=str(tmp / f"http-local-{run}.duckdb"))
    server_dir = tmp / f"server-{run}"
    server_dir.mkdir()
    server = serverutil().start_server(server_dir)
    remote = HttpRemoteStore(url=server.url)
    try:
        ms, table = await _sync(local, remote, "push")
    except BaseException:
        server.stop()
        local.close()
        raise
    finally:
        await remote.aclose()
    return local, server, ms, table


async def _first_pull(tmp: Path, server: Any, run: int) -> tuple[float, Any]:
    """The initial pull of the table the server holds into a new local file (a new
    device: the bootstrap path): ``(ms, table report)``."""
    from ducksync.stores.http import HttpRemoteStore
    from ducksync.stores.native import NativeLocalStore

    local = NativeLocalStore(spec=str(tmp / f"http-new-device-{run}.duckdb"))
    remote = HttpRemoteStore(url=server.url)
    try:
        return await _sync(local, remote, "pull")
    finally:
        await remote.aclose()
        local.close()


async def _via_server(tmp: Path, src: Path, res: Results, rows: int, runs: int,
                      log: Log, refs: list[float]) -> None:
    """``refs``: the reference's samples so far; one is added before each pull."""
    from ducksync.stores.http import HttpRemoteStore

    su = serverutil()
    times: list[float] = []
    pulls: list[float] = []
    for run in range(runs):  # the last run's local file and server go on below
        local, server, ms, table = await _first_push(tmp, src, run)
        times.append(ms)
        log(f"native push http, run {run + 1}: {ms:,.0f} ms")
        refs.append(sum(reference(src, tmp / f"reference-{run}.duckdb")))
        log(f"native reference, run {run + 1}: {refs[-1]:,.0f} ms")
        before = metrics_bytes(server.url)
        pull_ms, pulled = await _first_pull(tmp, server, run)
        pulls.append(pull_ms)
        pull_server_bytes = metrics_bytes(server.url) - before
        log(f"native initial pull http, run {run + 1}: {pull_ms:,.0f} ms")
        if run < runs - 1:
            server.stop()
            local.close()
    try:
        def record_bytes(label: str, t: Any, server_bytes: float) -> None:
            res.add(SUITE, f"{label} bytes", _wire(t), "B",
                    f"engine report (sent+received); server /metrics Arrow bytes: "
                    f"{server_bytes:,.0f}")

        async def step(label: str, mode: str, note: str, repeat: int = 1) -> None:
            """``repeat`` > 1 only for a sync that changes nothing (the median is kept)."""
            took: list[float] = []
            for _ in range(repeat):
                remote = HttpRemoteStore(url=server.url)
                before = metrics_bytes(server.url)
                try:
                    ms, t = await _sync(local, remote, mode)
                finally:
                    await remote.aclose()
                took.append(ms)
            ms, how = median(took, "ms")
            res.add(SUITE, f"{label} ms", ms, "ms", "; ".join(
                x for x in (note, how, phases(getattr(t, "timings", None))) if x),
                samples=took if repeat > 1 else ())
            record_bytes(label, t, metrics_bytes(server.url) - before)
            log(f"native {label}: {ms:,.0f} ms, {_wire(t):,} B")

        push_ms, how = median(times, "ms")
        res.add(SUITE, "push http ms", push_ms, "ms", "; ".join(x for x in (
            "engine push, local file → ducksync serve (HTTP store), each run into a fresh "
            "server", how, phases(getattr(table, "timings", None))) if x), samples=times)
        res.add(SUITE, "push http rows/s", rows / push_ms * 1000, "rows/s")
        record_bytes("push http", table, metrics_bytes(server.url))
        pull_ms, how = median(pulls, "ms")
        res.add(SUITE, "pull http ms", pull_ms, "ms", "; ".join(x for x in (
            "initial pull of the pushed table into a new file via the server (a new "
            "device: bootstrap pages, no keys sent), after each push run", how,
            phases(getattr(pulled, "timings", None))) if x), samples=pulls)
        record_bytes("pull http", pulled, pull_server_bytes)
        await step("no-op sync", "sync", "sync with nothing changed (checksums only)", runs)
        local.con.execute(data.change_sql(rows))
        await step("1k change", "sync", f"{data.CHANGED_ROWS} local rows updated, then sync")
        # Remote-side changes: the server owns its file, so edit it while stopped.
        server.stop()
        import duckdb

        con = duckdb.connect(str(server.remote))
        con.execute(data.change_sql(rows, salt=2))
        con.close()
        server = su.start_server(server.remote.parent)
        await step("1k pull", "pull", f"{data.CHANGED_ROWS} remote rows updated, then pull")
    finally:
        server.stop()
        local.close()


def _seed(src: Path, dst: Path, rows: int) -> seed.SeedRun:
    """The seed's approach, file → a new file, on the first ``rows`` rows."""
    import duckdb

    a, b = duckdb.connect(str(src), read_only=True), duckdb.connect(str(dst))
    try:
        b.execute(data.create_sql())
        return seed.run_native(a, b, table=data.TABLE, rows=rows)
    finally:
        a.close()
        b.close()


def run(tmp: Path, res: Results, *, rows: int, seed_rows: int, runs: int = 1,
        log: Log) -> None:
    """``runs``: how many times the initial push and the seed are timed (medians)."""
    src = tmp / "source.duckdb"
    table_bytes = make_source(src, rows)
    res.add(SUITE, "table bytes", table_bytes, "B", f"{rows:,} rows x 6 columns as Arrow IPC")
    export_ms, ingest_ms = reference(src, tmp / "reference.duckdb")
    log(f"native reference: {export_ms + ingest_ms:,.0f} ms")
    refs = [export_ms + ingest_ms]
    asyncio.run(_file_to_file(tmp, src, res, rows))
    asyncio.run(_via_server(tmp, src, res, rows, runs, log, refs))
    ref_ms, how = median(refs, "ms")
    res.add(SUITE, "reference arrow round trip ms", ref_ms, "ms",
            f"duckdb Arrow export + ingest into a new file, same primary key, + CHECKPOINT, "
            f"no network (first: export {export_ms:,.0f} ms + ingest {ingest_ms:,.0f} ms); "
            + (how or "one sample") + "; one sample up front, one before each timed pull",
            samples=refs if len(refs) > 1 else ())
    sample = min(rows, seed_rows)
    seeds = [_seed(src, tmp / f"seed-{i}.duckdb", sample) for i in range(runs)]
    rate, how = median([r.rows_per_s for r in seeds], "rows/s")
    res.add(SUITE, "seed rows/s", rate, "rows/s",
            f"BASELINE: seed's INSERT ... VALUES ({seed.ROWS_PER_STATEMENT} rows/statement) "
            f"file → file, timed on {seeds[0].rows:,} rows, "
            + (how or f"{seeds[0].seconds:.1f} s"), samples=[r.rows_per_s for r in seeds])
    res.add(SUITE, "seed extrapolated ms", rows / rate * 1000, "ms",
            f"extrapolated to {rows:,} rows at the measured rate (not run in full)")
    log(f"native seed: {rate:,.0f} rows/s")
