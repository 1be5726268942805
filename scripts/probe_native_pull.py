"""Probe: where a native initial pull (bootstrap) spends its time, statement by statement.

A new device pulls the bench table (``ducksync.bench.data``, ``--rows``) into a fresh file,
``--runs`` times, from an in-process native remote store (``file``: file→file, the remote's
work in this process too) and/or through a ``ducksync serve`` process (``http``; one server,
its first pull cold; ``--push-first``: a fresh server per pull, the table pushed into it
just before, as the bench does). Every local statement is timed inside the store's lock on one clock
(``perf_counter``, ms since the pull started), grouped by what it does; the page fetches
are timed from ask to last chunk; the local side's idle time between the first page and
the key is the wait for pages. CPU: this process's ``RUSAGE_SELF`` and the server's
``/proc/PID/stat`` (and each server thread's, and both sides' minor page faults).
``--push-first --pulls N``: N pulls per pushed server, the first the bench's, the next
ones warm; ``--second-table``: then the same rows pushed as a second table into the same
server and pulled N times; ``--floor-between``: the bench's floor run between the push and the first
pull, as the bench does; ``PROBE_LOCAL_SET``: a DuckDB statement run on each new
device's database first (a setting to try). Not a test, not the bench: a measuring
tool for docs/benchmarks.md (sessions 13 and 14, native).

    PYTHONPATH=$PWD/py flock /work/bench.lock .venv/bin/python scripts/probe_native_pull.py \
        [--rows 1000000] [--runs 3] [--modes file,http] [--timeline] \
        [--push-first [--pulls 3] [--floor-between]]
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import os
import re
import resource
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ducksync.bench import data
from ducksync.stores.native import NativeLocalStore, NativeRemoteStore

T = TypeVar("T")
_LABEL: contextvars.ContextVar[str] = contextvars.ContextVar("label", default="?")
_KINDS = (  # (regex on the statement, what it is), first match wins
    (r"^ingest ", "page ingest (temp table)"),
    (r"^stage ", "page staged"),
    (r"count\(\*\), CAST\(max\(", "page last key"),
    (r"^INSERT INTO ducksync\.\"base__", "base insert"),
    (r"^INSERT INTO \"?" + data.TABLE, "table insert"),
    (r"SET boot_cursor", "cursor update"),
    (r"^BEGIN", "BEGIN"),
    (r"^COMMIT", "COMMIT"),
    (r"ADD PRIMARY KEY", "key: ALTER ADD PRIMARY KEY"),
    (r"SET pending_key", "key: mark cleared"),
)


def kind(sql: str) -> str:
    for pattern, name in _KINDS:
        if re.search(pattern, sql):
            return name
    return "other: " + " ".join(sql.split())[:60]


class TimedLocal(NativeLocalStore):
    """A native local store that records (start, end, statement) of each call's duckdb
    work, measured on its thread under the store's lock."""

    def __init__(self, spec: str) -> None:
        super().__init__(spec=spec)
        self.t0 = time.perf_counter()
        self.calls: list[tuple[float, float, str]] = []

    async def _call(self, fn: Callable[[], T]) -> T:
        label = _LABEL.get()

        def timed() -> T:
            s = time.perf_counter()
            try:
                return fn()
            finally:
                self.calls.append((s - self.t0, time.perf_counter() - self.t0, label))

        return await super()._call(timed)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        _LABEL.set(sql)
        await super().execute(sql, params)

    async def fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        _LABEL.set(sql)
        return await super().fetch_rows(sql, params)

    async def ingest_arrow(self, table: str, ipc: bytes, *, append: bool = False) -> None:
        _LABEL.set(f"ingest {table}")
        await super().ingest_arrow(table, ipc, append=append)


def timed_fetches(remote: Any, t0: Callable[[], float], out: list[tuple[float, float]]) -> None:
    """Record (asked, last chunk) of each ``fetch_rows_after`` of ``remote``."""
    inner = remote.fetch_rows_after

    async def fetch_rows_after(*args: Any, **kwargs: Any) -> AsyncIterator[bytes]:
        s = time.perf_counter() - t0()
        async for chunk in inner(*args, **kwargs):
            yield chunk
        out.append((s, time.perf_counter() - t0()))

    remote.fetch_rows_after = fetch_rows_after


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_utime + r.ru_stime) * 1000


def threads_cpu(pid: int) -> dict[str, float]:
    """CPU ms of each thread of ``pid`` (``tid:name``)."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        out[f"{task.name}:{name}"] = ((int(fields[11]) + int(fields[12])) * 1000
                                      / os.sysconf("SC_CLK_TCK"))
    return out


def faults_self() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def faults_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


def cpu_pid(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


async def pull(path: Path, remote: Any, server_pid: int | None,
               table: str = data.TABLE) -> dict[str, Any]:
    from ducksync.engine.sync import SyncOptions, sync

    local = TimedLocal(str(path))
    if os.environ.get("PROBE_LOCAL_SET"):  # a DuckDB setting on the new device's database
        local.con.execute(os.environ["PROBE_LOCAL_SET"])
    fetches: list[tuple[float, float]] = []
    timed_fetches(remote, lambda: local.t0, fetches)
    c0, s0 = cpu_self(), cpu_pid(server_pid) if server_pid else 0.0
    f0, g0 = faults_self(), faults_pid(server_pid) if server_pid else 0
    th0 = threads_cpu(server_pid) if server_pid else {}
    local.t0 = time.perf_counter()
    try:
        report = await sync(local, remote, SyncOptions(tables=[table]), "pull")
    finally:
        wall = (time.perf_counter() - local.t0) * 1000
        local.close()
    table = report.tables[0]
    if table.error:
        raise RuntimeError(table.error)
    return {"wall": wall, "cpu": cpu_self() - c0,
            "server_cpu": cpu_pid(server_pid) - s0 if server_pid else None,
            "faults": faults_self() - f0,
            "server_threads": {k: v - th0.get(k, 0.0) for k, v in
                               (threads_cpu(server_pid) if server_pid else {}).items()
                               if v - th0.get(k, 0.0) >= 10},
            "server_faults": faults_pid(server_pid) - g0 if server_pid else None,
            "calls": local.calls, "fetches": fetches, "phases": dict(table.timings or {})}


def summary(r: dict[str, Any], timeline: bool) -> None:
    by: dict[str, list[float]] = defaultdict(list)
    for s, e, label in r["calls"]:
        by[kind(label)].append((e - s) * 1000)
    server = (f", server CPU {r['server_cpu']:,.0f} ms ({r['server_faults']:,} faults)"
              if r["server_cpu"] is not None else "")
    print(f"  pull {r['wall']:,.0f} ms, client CPU {r['cpu']:,.0f} ms ({r['faults']:,} faults)"
          f"{server}")
    if r.get("server_threads"):
        print("  server threads (CPU ms): " + ", ".join(
            f"{k} {v:,.0f}" for k, v in sorted(r["server_threads"].items(), key=lambda kv: -kv[1])))
    pages = [(s, e) for s, e, label in r["calls"] if kind(label).startswith("page ")]
    key_at = min((s for s, _, label in r["calls"] if "ADD PRIMARY KEY" in label), default=None)
    if pages and key_at is not None:  # the local side's idle time from the first page on
        start = min(s for s, _ in pages)
        busy = sum(min(e, key_at) - max(s, start) for s, e, _ in r["calls"]
                   if e > start and s < key_at)
        print(f"  first page in at {start * 1000:,.0f} ms; local idle until the key "
              f"{(key_at - start - busy) * 1000:,.0f} ms of {(key_at - start) * 1000:,.0f}")
    print("  fetches (asked → last chunk, ms): " + ", ".join(
        f"{s * 1000:,.0f}→{e * 1000:,.0f}" for s, e in r["fetches"]))
    for name, ms in sorted(by.items(), key=lambda kv: -sum(kv[1])):
        if sum(ms) >= 1:
            print(f"  {sum(ms):8,.1f} ms  x{len(ms):<3} {name}  "
                  f"[{' / '.join(f'{m:,.0f}' for m in ms[:6])}]")
    if timeline:
        for s, e, label in r["calls"]:
            print(f"    {s * 1000:8,.1f} {e * 1000:8,.1f}  {kind(label)}")


async def push(source: Path, copy: Path, url: str, table: str = data.TABLE) -> None:
    """``table`` pushed from a copy of ``source`` into the server at ``url``."""
    from ducksync.engine.sync import SyncOptions, sync
    from ducksync.stores.http import HttpRemoteStore

    shutil.copy(source, copy)
    local, remote = NativeLocalStore(spec=str(copy)), HttpRemoteStore(url=url)
    try:
        report = await sync(local, remote, SyncOptions(tables=[table]), "push")
        if report.tables[0].error:
            raise RuntimeError(report.tables[0].error)
    finally:
        await remote.aclose()
        local.close()


SECOND = data.TABLE + "_2"  # --second-table


async def main() -> None:
    from ducksync.bench.repo import serverutil
    from ducksync.stores.http import HttpRemoteStore

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", default="file,http")
    ap.add_argument("--timeline", action="store_true", help="print every statement")
    ap.add_argument("--push-first", action="store_true",
                    help="http: a fresh server per pull, the table pushed into it first (untimed), "
                         "as the bench's pull follows its push")
    ap.add_argument("--pulls", type=int, default=1,
                    help="with --push-first: pulls per pushed server (the 1st is the bench's, "
                         "the next ones warm)")
    ap.add_argument("--second-table", action="store_true",
                    help="with --push-first: then the same rows as a second table pushed into "
                         "the same server and pulled --pulls times (is a first pull's extra "
                         "cost the process's or the write's?)")
    ap.add_argument("--floor-between", action="store_true",
                    help="with --push-first: the bench's floor (Arrow export + ingest into a "
                         "fresh file) run between the push and the pull, as the bench does")
    args = ap.parse_args()
    print("load:", os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="probe-pull-") as tmp_name:
        tmp = Path(tmp_name)
        import duckdb

        con = duckdb.connect(str(tmp / "source.duckdb"))
        con.execute(data.create_sql())
        con.execute(data.fill_sql(args.rows))
        if args.second_table:
            con.execute(data.create_sql(SECOND))
            con.execute(f"INSERT INTO {SECOND} SELECT * FROM {data.TABLE}")
        con.execute("CHECKPOINT")
        con.close()
        if "file" in args.modes:
            shutil.copy(tmp / "source.duckdb", tmp / "file-remote.duckdb")
            remote = NativeRemoteStore(spec=str(tmp / "file-remote.duckdb"))
            try:
                for run in range(args.runs):
                    print(f"file→file, run {run + 1} (load {os.getloadavg()[0]:.1f})")
                    summary(await pull(tmp / f"file-{run}.duckdb", remote, None),
                            args.timeline)
            finally:
                remote.close()
        if "http" in args.modes:
            for run in range(args.runs):
                first = args.push_first or not run
                if first:
                    folder = tmp / f"server-{run}"
                    folder.mkdir()
                    if not args.push_first:
                        shutil.copy(tmp / "source.duckdb", folder / "remote.duckdb")
                    server = serverutil().start_server(folder)  # remote.duckdb there
                try:
                    if args.push_first:
                        await push(tmp / "source.duckdb", tmp / f"pushed-{run}.duckdb", server.url)
                        if args.floor_between:
                            from ducksync.bench.native import reference

                            t, c = time.perf_counter(), cpu_self()
                            reference(tmp / "source.duckdb", tmp / f"floor-{run}.duckdb")
                            print(f"floor {(time.perf_counter() - t) * 1000:,.0f} ms, "
                                  f"CPU {cpu_self() - c:,.0f} ms (load {os.getloadavg()[0]:.1f})")
                        wal = folder / "remote.duckdb.wal"
                        print(f"server WAL after the push: "
                              f"{wal.stat().st_size if wal.exists() else 0:,} bytes")
                    tables = [data.TABLE, SECOND] if args.push_first and args.second_table \
                        else [data.TABLE]
                    for table in tables:
                        if table != data.TABLE:
                            await push(tmp / "source.duckdb", tmp / f"pushed-{run}-2.duckdb",
                                       server.url, table)
                        for again in range(args.pulls if args.push_first else 1):
                            print(f"via the server, run {run + 1}, {table}"
                                  f"{' (its first pull)' if first and not again else ''}"
                                  f"{f' (again: {again})' if again else ''}"
                                  f" (load {os.getloadavg()[0]:.1f})")
                            http = HttpRemoteStore(url=server.url)
                            try:
                                summary(await pull(tmp / f"http-{run}-{table}-{again}.duckdb",
                                                   http, server.process.pid, table),
                                        args.timeline)
                            finally:
                                await http.aclose()
                except BaseException:
                    server.stop()
                    raise
                if args.push_first or run == args.runs - 1:
                    server.stop()
    print("load:", os.getloadavg())


if __name__ == "__main__":
    asyncio.run(main())
