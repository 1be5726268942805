"""Probe: the server's CPU for a bootstrap's 4 page reads, the first time in a process and again.

Each variant runs in a fresh Python process (a server just started): it opens the remote
file as ``ducksync serve`` does (:class:`RemoteDatabase`, one pooled
``NativeRemoteStore`` cursor), then reads the 4 pages of a 1M-row bootstrap (122,880 /
245,760 / 368,640 / 262,720 rows, keyset after the last key, no hashes: a native client
derives them) twice: cold, then warm. Each page is split into the server's steps, each
timed in process CPU (``RUSAGE_SELF``: DuckDB's threads included) and minor page faults:

- ``query``: ``execute`` of the store's page SQL (``remote_sql.rows_after_sql``);
- ``arrow``: draining ``to_arrow_reader`` (DuckDB's rows into Arrow batches);
- ``ipc``: the batches written as one IPC stream (``stores._arrow.to_ipc``);
- ``merge``: ``arrowio.merge_chunks`` (one chunk: its rows counted, not re-encoded);
- ``zstd``: ``encoding.encode_body`` (level 1, as the server answers).

``--path store`` times the store's own ``fetch_rows_after`` + merge + zstd instead (the
exact code the server runs, not split). ``--http`` starts a real ``ducksync serve`` and
asks it for the pages over HTTP, reading the server's CPU from ``/proc/PID/stat``.
``--flow push`` is the native bench's sequence (a fresh server, the table pushed into
it by the engine over HTTP, then two initial pulls by new devices), ``--flow restart``
a server started on a file that holds the table (a restart: its first requests are the
first device's pull); each leg's wall ms and server CPU, and with ``--per-request`` each
request's CPU, minor faults, steps and the modules it imported (a ``sitecustomize`` put
in the server's path). ``--start`` only starts servers: ms until ``/healthz`` answers.
Variants set environment variables for the child or server (e.g. glibc malloc's
``MALLOC_MMAP_THRESHOLD_``; ``main``: the server of ``$PROBE_MAIN``, default
``/work/main/py``) or a step run first. A measuring tool for docs/benchmarks.md (issue
17, session 13).

    PYTHONPATH=$PWD/py flock /work/bench.lock .venv/bin/python scripts/probe_server_cold.py \
        [--variants today,mmap] [--repeat 2] [--http | --flow push|restart | --start]
        [--per-request] [--remote FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PAGES = (122_880, 245_760, 368_640, 262_720)
STEPS = ("query", "arrow", "ipc", "merge", "zstd")
FIXED_MMAP = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}
# name -> (environment for the child, what the child runs before the first pass)
VARIANTS: dict[str, tuple[dict[str, str], str]] = {
    "today": ({}, ""),
    "mmap": (FIXED_MMAP, ""),  # no large allocation mmapped, no heap trimmed
    "arena1": ({"MALLOC_ARENA_MAX": "1"}, ""),
    "system": ({"ARROW_DEFAULT_MEMORY_POOL": "system"}, ""),  # Arrow's buffers in glibc malloc
    "jemalloc": ({"ARROW_DEFAULT_MEMORY_POOL": "jemalloc"}, ""),
    "system_mmap": ({"ARROW_DEFAULT_MEMORY_POOL": "system", **FIXED_MMAP}, ""),
    "threads1": ({}, "threads1"),  # SET threads = 1 on the database
    # --flow/--http: the server of another checkout (its py/), e.g. before this change
    "main": ({"PYTHONPATH": os.environ.get("PROBE_MAIN", "/work/main/py")}, ""),
    "main_env": ({"PYTHONPATH": os.environ.get("PROBE_MAIN", "/work/main/py"),
                  "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
                  "MALLOC_TRIM_THRESHOLD_": str(64 << 20)}, ""),
    "main_arena1": ({"PYTHONPATH": os.environ.get("PROBE_MAIN", "/work/main/py"),
                     "MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
                     "MALLOC_TRIM_THRESHOLD_": str(64 << 20)}, ""),
    "flush": ({}, "flush"),
    # --per-request flows: jemalloc's purging on DuckDB's background threads
    "bgthreads": ({"PROBE_DUCKDB_SET": "SET allocator_background_threads = true"}, ""),
    # DuckDB's trims of freed memory after large frees (session 14) kept from happening
    "noflush": ({"PROBE_DUCKDB_SET": "SET allocator_flush_threshold = '16GiB'; "
                                     "SET allocator_bulk_deallocation_flush_threshold = '16GiB'"},
                ""),
    "blockalloc": ({"PROBE_DUCKDB_SET": "SET block_allocator_memory = '256MiB'"}, ""),
    # --flow push: the bench's floor (Arrow export + ingest into a fresh file, in this
    # process) run between the push and the first pull, as the bench does
    "floor": ({}, "floor"),
    # the same, the server's jemalloc keeping freed pages 10 s (DuckDB's own: 1 s)
    "floor_decay": ({"DUCKDB_JE_MALLOC_CONF": "dirty_decay_ms:10000,muzzy_decay_ms:10000"},
                    "floor"),
}


# --per-request: the server's sitecustomize (a folder put first on its PYTHONPATH):
# each request's process CPU and minor faults, its steps' (the page's drain of DuckDB's
# Arrow reader, the IPC write and its copy into bytes, merge_chunks, zstd), and the
# modules it imported, as JSON lines into $PROBE_LOG.
SITECUSTOMIZE = r"""# Probe only: per-request and per-step CPU + minor faults of a ducksync server.
import os
if os.environ.get("PROBE_LOG"):
    import json, resource, threading, time
    _steps = threading.local()
    _all = []

    def _u():
        p = resource.getrusage(resource.RUSAGE_SELF)
        t = resource.getrusage(resource.RUSAGE_THREAD)
        return ((p.ru_utime + p.ru_stime) * 1000, p.ru_minflt,
                (t.ru_utime + t.ru_stime) * 1000, t.ru_minflt)

    def _wrap(mod, name, label):
        orig = getattr(mod, name)
        def inner(*a, **k):
            u0 = _u()
            try:
                return orig(*a, **k)
            finally:
                u1 = _u()
                _all.append((label, threading.get_ident() % 10000,
                             *[round(b - a_) for a_, b in zip(u0, u1)]))
        setattr(mod, name, inner)

    def _wrap_gen(mod, name, label):
        orig = getattr(mod, name)
        def inner(*a, **k):
            u0 = _u()
            try:
                yield from orig(*a, **k)
            finally:
                u1 = _u()
                _all.append((label, threading.get_ident() % 10000,
                             *[round(b - a_) for a_, b in zip(u0, u1)]))
        setattr(mod, name, inner)

    from ducksync.stores import _arrow
    from ducksync.server import arrowio, encoding
    import pyarrow as pa

    def _stream(batches):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batches[0].schema) as w:
            for b in batches:
                w.write_batch(b)
        return sink.getvalue()

    _plain_to_ipc = _arrow.to_ipc

    def _to_ipc(data):
        if not isinstance(data, list) or not data:
            return _plain_to_ipc(data)
        return _copy_w(_stream_w(data))

    def _copy(buf):
        return bytes(buf.to_pybytes())
    _arrow._stream, _arrow._copy = _stream, _copy
    _wrap(_arrow, "_stream", "ipc.write")
    _wrap(_arrow, "_copy", "ipc.copy")
    _stream_w, _copy_w = _arrow._stream, _arrow._copy
    _arrow.to_ipc = _to_ipc
    _wrap_gen(_arrow, "chunks", "drain")
    _wrap(arrowio, "merge_chunks", "merge")
    _wrap(encoding, "encode_body", "zstd")
    if os.environ.get("PROBE_DUCKDB_SET"):  # a DuckDB setting on the remote's connection
        from ducksync.server import remote as _r
        _open = _r.RemoteDatabase._open

        def _opened(self):
            con = _open(self)
            con.execute(os.environ["PROBE_DUCKDB_SET"])
            return con
        _r.RemoteDatabase._open = _opened
    from ducksync.server import observability as _o
    _orig = _o.ObservabilityMiddleware.__call__

    async def _call(self, scope, receive, send):
        if scope.get("type") != "http":
            return await _orig(self, scope, receive, send)
        del _all[:]
        import sys as _sys
        mods0 = set(_sys.modules)
        r0 = resource.getrusage(resource.RUSAGE_SELF); t0 = time.perf_counter()
        try:
            return await _orig(self, scope, receive, send)
        finally:
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            with open(os.environ["PROBE_LOG"], "a") as f:
                f.write(json.dumps({"path": scope["path"], "t0": t0,
                    "wall": (time.perf_counter() - t0) * 1000,
                    "cpu": (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1000,
                    "flt": r1.ru_minflt - r0.ru_minflt, "steps": list(_all),
                    "imported": sorted(set(_sys.modules) - mods0)}) + "\n")
    _o.ObservabilityMiddleware.__call__ = _call
if os.environ.get("PROBE_LOG"):
    import sys as _s, traceback as _tb

    class _Hook:
        def find_spec(self, name, path=None, target=None):
            if name in ("pyarrow.dataset", "pyarrow.compute", "pydoc"):
                with open(os.environ["PROBE_LOG"] + ".imports", "a") as f:
                    f.write(f"IMPORT {name}\n" + "".join(_tb.format_stack(limit=14)))
            return None
    _s.meta_path.insert(0, _Hook())
"""


def _usage() -> tuple[float, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_utime + r.ru_stime) * 1000, r.ru_minflt


def _child(remote: str, before: str, path: str) -> dict[str, Any]:
    """One fresh process: the 4 pages twice, each step's CPU ms and minor faults."""
    cpu0, flt0 = _usage()
    t0 = time.perf_counter()
    import duckdb  # noqa: F401  (timed with the imports below: a server imports it at start)
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.compute

    from ducksync.server.arrowio import merge_chunks
    from ducksync.server.backend import collect
    from ducksync.server.encoding import encode_body
    from ducksync.server.remote import RemoteDatabase
    from ducksync.stores import remote_sql as rs
    from ducksync.stores._arrow import to_ipc
    from ducksync.stores.native import NativeRemoteStore

    db = RemoteDatabase(spec=remote)
    con = db.cursor()
    if before == "threads1":
        con.execute("SET threads = 1")
    if before == "flush":  # DuckDB's allocator keeps 1 GiB of freed memory per thread
        con.execute("SET allocator_flush_threshold = '1GiB'")
        con.execute("SET allocator_bulk_deallocation_flush_threshold = '1GiB'")
    store = NativeRemoteStore(spec=remote, con=con, threaded=False)
    cpu1, flt1 = _usage()
    start = {"cpu_ms": cpu1 - cpu0, "minflt": flt1 - flt0,
             "wall_ms": (time.perf_counter() - t0) * 1000}
    info = asyncio.run(store.describe_table("bench"))
    assert info is not None
    def page(after: str | None, limit: int) -> tuple[dict[str, int], str]:
        marks = [_usage()]
        if path == "store":
            chunks = collect(lambda: store.fetch_rows_after(
                "bench", "id", after, batch_rows=limit, limit=limit, hashes=False))
            marks.append(_usage())
            payload, rows = merge_chunks(chunks)
            marks.append(_usage())
            last = pa.ipc.open_stream(payload).read_all().column("id")
            after = str(pa.compute.max(last).as_py())
            marks.append(_usage())
            encode_body(payload, "zstd")
            marks.append(_usage())
            names: tuple[str, ...] = ("store", "merge", "last", "zstd")
        else:
            sql = rs.rows_after_sql(info, ["id"], "id", after is not None, limit, False)
            rel = con.execute(sql, rs.rows_after_params(after, limit))
            marks.append(_usage())
            batches = list(rel.to_arrow_reader(limit))
            marks.append(_usage())
            ipc = to_ipc(batches)
            marks.append(_usage())
            payload, rows = merge_chunks([ipc])
            marks.append(_usage())
            encode_body(payload, "zstd")
            marks.append(_usage())
            names = STEPS
            after = str(max(int(pa.compute.max(b.column("id")).as_py()) for b in batches))
        steps = {n: round(marks[i + 1][0] - marks[i][0]) for i, n in enumerate(names)}
        steps["minflt"] = marks[-1][1] - marks[0][1]
        steps["rows"] = rows
        return steps, after

    # each page on a pool thread, as the server runs a request (anyio's worker threads)
    pool = ThreadPoolExecutor(max_workers=4)
    passes = []
    for _ in ("cold", "warm"):
        after: str | None = None
        pages = []
        for limit in PAGES:
            steps, after = pool.submit(page, after, limit).result()
            pages.append(steps)
        passes.append(pages)
    return {"start": start, "passes": passes,
            "pool": pa.default_memory_pool().backend_name}


def _run_child(remote: str, variant: str, path: str) -> dict[str, Any]:
    env_extra, before = VARIANTS[variant]
    env = {**os.environ, **env_extra}
    out = subprocess.run(
        [sys.executable, __file__, "--child", remote, "--before", before, "--path", path],
        env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _proc_cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _http_pass(url: str, pid: int) -> list[int]:
    """The 4 pages over HTTP (zstd accepted): the server's CPU ms for each."""
    import httpx
    import pyarrow as pa
    import pyarrow.compute

    cpus = []
    after: str | None = None
    with httpx.Client(base_url=url, timeout=120) as client:
        for limit in PAGES:
            before = _proc_cpu_ms(pid)
            reply = client.post("/api/v1/sync/tables/bench/rows-after", headers={
                "accept-encoding": "zstd"}, json={"column": "id", "after": after,
                                                  "batch_rows": limit, "limit": limit,
                                                  "hashes": False})
            reply.raise_for_status()
            cpus.append(round(_proc_cpu_ms(pid) - before))
            ids = pa.ipc.open_stream(reply.content).read_all().column("id")
            after = str(pa.compute.max(ids).as_py())
    return cpus


def _http(remote: Path, variant: str) -> dict[str, Any]:
    """A real ``ducksync serve`` on ``remote``: start-up CPU, then the pages twice."""
    from ducksync.testing.server import start_server

    env_extra, _ = VARIANTS[variant]
    server = start_server(remote.parent, env=env_extra)
    try:
        pid = server._process.pid  # type: ignore[union-attr]
        start = round(_proc_cpu_ms(pid))
        return {"start_cpu_ms": start, "cold": _http_pass(server.url, pid),
                "warm": _http_pass(server.url, pid)}
    finally:
        server.stop()


def _flow(source: Path, tmp: Path, variant: str, n: int, push: bool) -> dict[str, Any]:
    """The native bench's sequence: a fresh server, the table pushed into it over HTTP,
    then pulled by a new device twice (the first pull this server answers, and another):
    the server's CPU for each leg and each pull's wall time. ``push=False``: a server
    restarted on a remote file that holds the table (its first requests are the pull's)."""
    from ducksync.bench.native import _sync
    from ducksync.stores.http import HttpRemoteStore
    from ducksync.stores.native import NativeLocalStore
    from ducksync.testing.server import start_server

    env_extra, before = VARIANTS[variant]
    folder = tmp / f"{variant}-{n}"
    folder.mkdir()
    if not push:
        shutil.copy(source, folder / "remote.duckdb")
    site = os.environ.get("PROBE_SITE")  # see --per-request
    if site:
        path = env_extra.get("PYTHONPATH", os.environ["PYTHONPATH"])
        env_extra = {**env_extra, "PYTHONPATH": f"{site}:{path}",
                     "PROBE_LOG": str(folder / "requests.jsonl")}
    server = start_server(folder, env=env_extra)
    pid = server._process.pid  # type: ignore[union-attr]
    out: dict[str, Any] = {"start_cpu_ms": round(_proc_cpu_ms(pid))}

    async def leg(name: str, spec: Path, mode: str) -> None:
        local = NativeLocalStore(spec=str(spec))
        remote = HttpRemoteStore(url=server.url)
        before = _proc_cpu_ms(pid)
        try:
            ms, _ = await _sync(local, remote, mode)
        finally:
            await remote.aclose()
            local.close()
        out[name] = (round(ms), round(_proc_cpu_ms(pid) - before))
        log = folder / "requests.jsonl"
        if log.exists():
            out[name + "_requests"] = [
                [r["path"].rsplit("/", 1)[-1], round(r["cpu"]), round(r["wall"]), r["flt"],
                 *r.get("steps", ()), *(["imported", r["imported"]] if r.get("imported") else [])]
                for r in map(json.loads, log.read_text().splitlines())
                if not r["path"].endswith("healthz")]
            log.unlink()

    try:
        out["push"] = None
        if push:
            shutil.copy(source, folder / "local.duckdb")
            asyncio.run(leg("push", folder / "local.duckdb", "push"))
        if before == "floor":
            from ducksync.bench.native import reference

            t = time.perf_counter()
            reference(source, folder / "floor.duckdb")
            out["floor"] = round((time.perf_counter() - t) * 1000)
        asyncio.run(leg("pull1", folder / "new1.duckdb", "pull"))
        asyncio.run(leg("pull2", folder / "new2.duckdb", "pull"))
    finally:
        server.stop()
        imports = folder / "requests.jsonl.imports"
        if imports.exists():
            print(imports.read_text(), file=sys.stderr)
    return out


def _start(remote: Path, variant: str) -> dict[str, Any]:
    """A server started on ``remote`` and stopped: ms until ``/healthz`` answers (its
    start-up, the lifespan's included) and the process's CPU by then."""
    from ducksync.testing.server import start_server

    t0 = time.perf_counter()
    server = start_server(remote.parent, env=VARIANTS[variant][0])
    try:
        return {"start_ms": round((time.perf_counter() - t0) * 1000),
                "start_cpu_ms": round(_proc_cpu_ms(server._process.pid))}  # type: ignore[union-attr]
    finally:
        server.stop()


def _build(remote: Path, rows: int) -> None:
    import duckdb

    from ducksync.bench import data

    with duckdb.connect(str(remote)) as con:
        con.execute(data.create_sql())
        con.execute(data.fill_sql(rows))


def _request(q: list[Any]) -> str:
    """One request of --per-request: its name, process CPU ms, minor faults, imports."""
    imported = q[q.index("imported") + 1] if "imported" in q else []
    steps = [x for x in q[4:] if isinstance(x, list) and len(x) == 6]
    slow = (" [" + ", ".join(f"{x[0]} {x[2]}/{x[4]} ms {x[3]}/{x[5]} flt" for x in steps)
            + " (process/thread)]") if q[1] >= 300 else ""
    return (f"{q[0]} {q[1]} ms {q[3]} flt" + (f" +{len(imported)} modules" if imported else "")
            + slow)


def _show(variant: str, r: dict[str, Any]) -> str:
    if "start_ms" in r:
        return f"{variant:9} start {r['start_ms']} ms to /healthz, {r['start_cpu_ms']} ms CPU"
    if "pull1" in r:
        return (f"{variant:9} start {r['start_cpu_ms']} ms CPU | (wall ms, server CPU ms) "
                f"push {r['push']}" + (f" floor {r['floor']}" if "floor" in r else "")
                + f" pull1 {r['pull1']} pull2 {r['pull2']}"
                + "".join(f"\n  {k}: " + "; ".join(_request(q) for q in r[k])
                          for k in ("pull1_requests", "pull2_requests") if k in r))
    if "cold" in r:
        return (f"{variant:9} start {r['start_cpu_ms']} ms CPU | server CPU per page cold "
                f"{r['cold']} = {sum(r['cold'])}, warm {r['warm']} = {sum(r['warm'])}")
    lines = [f"{variant:9} start {r['start']['cpu_ms']:.0f} ms CPU "
             f"({r['start']['minflt']} faults), pool {r['pool']}"]
    for name, pages in zip(("cold", "warm"), r["passes"], strict=True):
        steps = [k for k in pages[0] if k not in ("minflt", "rows")]
        total = {k: sum(p[k] for p in pages) for k in steps}
        lines.append(f"  {name}: " + " ".join(
            f"{k} {'/'.join(str(p[k]) for p in pages)} ({total[k]})" for k in steps)
            + f" | all {sum(total.values())} ms, faults {sum(p['minflt'] for p in pages)}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--variants", default="today")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--path", choices=("split", "store"), default="split")
    ap.add_argument("--http", action="store_true")
    ap.add_argument("--flow", choices=("push", "restart"), default=None)
    ap.add_argument("--start", action="store_true", help="only start and stop servers")
    ap.add_argument("--per-request", action="store_true",
                    help="--flow: each request's CPU, faults, steps and imports")
    ap.add_argument("--remote", default=None, help="a file holding the table (else built)")
    ap.add_argument("--child", default=None)
    ap.add_argument("--before", default="")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.before, args.path)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.per_request:
            (Path(tmp) / "site").mkdir()
            (Path(tmp) / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
            os.environ["PROBE_SITE"] = str(Path(tmp) / "site")
        remote = Path(tmp) / "remote.duckdb"
        if args.remote:
            shutil.copy(args.remote, remote)
        else:
            _build(remote, args.rows)
        for n in range(args.repeat):
            for variant in args.variants.split(","):
                r = (_start(remote, variant) if args.start
                     else _flow(remote, Path(tmp), variant, n, args.flow == "push")
                     if args.flow
                     else _http(remote, variant) if args.http
                     else _run_child(str(remote), variant, args.path))
                print(f"load {os.getloadavg()[0]:.1f} " + _show(variant, r), flush=True)


if __name__ == "__main__":
    main()
