"""Probe: one clock for a new device's initial pull of a 1M-row table in the page.

A server whose remote file holds the bench table (written straight into it), then per
pull a fresh browser context (a new device), started as the bench starts it (once the
first visit's service worker is installed: ``bench.browser_data._first_pull``). Before
the pull, Python run in the local worker's Pyodide wraps (on the classes, so the sync
service's own store is covered):

* every statement and ingest the sync store sends to DuckDB-WASM (``WasmLocalStore._q``:
  the JS call alone, not the transaction gate's wait),
* every remote call through the peer port (``PortRemoteStore.call``) and every
  bootstrap page fetch (``PageAsk.fetch``: asked → its IPC in the local worker),
* the engine's phases (``Transfer.phase``) and the service's run.

All in epoch ms (``performance.timeOrigin + now()``, the page's and the worker's), so one
table shows the pull from the page's call to its answer: each local statement with its
duration, the pages' fetches, and the gaps where the local DuckDB thread sat idle (and
whether a page fetch was then in flight: waiting for a page). A measuring tool for
docs/benchmarks.md (session 13), not a test.

    PYTHONPATH=$PWD/py flock /work/bench.lock .venv/bin/python scripts/probe_page_timeline.py \
        [--repeat 3] [--out /tmp/timeline.json] [--quiet] [--warm]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from ducksync.bench import data, startup
from ducksync.bench.repo import launch_options, serverutil

PY = "(code) => self.ducksyncDiagnostics.pyodide.runPython(code)"

# Installed once per page (a fresh context each pull); `_ds_tl` collects the events.
INSTALL = r'''
import contextlib, js
import sync_worker as _sw
from ducksync.engine import bootstrap as _bs, detect as _dt
from ducksync.worker import port_store as _ps, sync_service as _ss

_ds_tl = []

def _now():
    return js.performance.timeOrigin + js.performance.now()

_q0 = _sw.WasmLocalStore._q
async def _q(self, start, sql):
    async def timed():
        t = _now()
        try:
            return await start()
        finally:
            _ds_tl.append(["db", t, _now(), sql[:240]])
    return await _q0(self, timed, sql)
_sw.WasmLocalStore._q = _q

_fetch0 = _bs.PageAsk.fetch
async def _fetch(self, remote):
    t = _now()
    try:
        return await _fetch0(self, remote)
    finally:
        _ds_tl.append(["page", t, _now(), f"after {self.cursor} limit {self.limit}"])
_bs.PageAsk.fetch = _fetch

_call0 = _ps.PortRemoteStore.call
async def _call(self, method, args, ipc=None):
    t = _now()
    try:
        return await _call0(self, method, args, ipc)
    finally:
        _ds_tl.append(["remote", t, _now(), method])
_ps.PortRemoteStore.call = _call

_phase0 = _dt.Transfer.phase
@contextlib.contextmanager
def _phase(self, name):
    t = _now()
    try:
        with _phase0(self, name):
            yield
    finally:
        _ds_tl.append(["phase", t, _now(), name])
_dt.Transfer.phase = _phase

_run0 = _ss.SyncService._run
async def _run(self, **kw):
    t = _now()
    try:
        return await _run0(self, **kw)
    finally:
        _ds_tl.append(["run", t, _now(), "SyncService._run"])
_ss.SyncService._run = _run
'''

START_JS = """(args) => {
  window.__bench = null;
  const t0 = performance.now();
  const at = performance.timeOrigin + t0;
  window.ducksync.sync(args).then(
    (r) => { window.__bench = {ok: true, ms: performance.now() - t0, at, report: r}; },
    (e) => { window.__bench = {ok: false, error: `${e.name}: ${e.message}`}; });
}"""

# (category, pattern on the statement's text), first match wins
CATEGORIES: list[tuple[str, str]] = [
    ("ingest", r"^ingest "),
    ("last key", r"^SELECT count\(\*\), CAST\(max\("),
    ("base insert", r'^INSERT INTO ducksync\."?base__'),
    ("table insert", r"^INSERT INTO \"?bench"),
    ("cursor", r"^UPDATE ducksync\.tables SET boot_cursor"),
    ("begin", r"^BEGIN"),
    ("commit", r"^COMMIT"),
    ("key: alter", r"^ALTER TABLE .* ADD PRIMARY KEY"),
    ("key: mark", r"^UPDATE ducksync\.tables SET pending_key"),
    ("checkpoint", r"^CHECKPOINT"),
    ("hash probe", r"^SELECT CAST\(bit_xor\(hash\("),
    ("base sums", r"^SELECT count\(\*\), bit_xor\("),
    ("tables row", r"ducksync\.tables"),
    ("ddl", r"^CREATE|^DROP|^ALTER"),
]


def _category(sql: str) -> str:
    return next((c for c, p in CATEGORIES if re.search(p, sql)), "other")


SIZE_SQL = ("SELECT wal_size, total_blocks FROM pragma_database_size() "
            "WHERE database_name = current_database()")


WARM_TABLE = "bench_warm"  # the same rows as the pulled table, for --warm


def _pull(browser: Any, url: str, before: list[str], warm: bool = False) -> dict[str, Any]:
    page = browser.new_context().new_page()
    try:
        page.goto(url + "/?sync=manual")
        page.wait_for_function(startup.READY, timeout=180_000)
        startup.wait_offline_ready(page)
        worker = next(w for w in page.workers if "local.worker" in w.url)
        worker.evaluate(PY, INSTALL)
        if warm:  # a device in use: it pulled a table of the same rows before (untimed)
            page.evaluate(START_JS, {"tables": [WARM_TABLE], "direction": "pull"})
            page.wait_for_function("() => window.__bench", timeout=300_000, polling=50)
            if not page.evaluate("() => window.__bench.ok"):
                raise RuntimeError(page.evaluate("() => window.__bench.error"))
            worker.evaluate(PY, "_ds_tl.clear()")
        for sql in before:  # through the page's exec (which checkpoints after a write)
            page.evaluate("async (s) => { await window.ducksync.exec(s); }", sql)
        size = page.evaluate("async (s) => (await window.ducksync.query(s))[0]", SIZE_SQL)
        page.evaluate(START_JS, {"tables": [data.TABLE], "direction": "pull"})
        page.wait_for_function("() => window.__bench", timeout=300_000, polling=50)
        done = page.evaluate("() => window.__bench")
        end = page.evaluate("() => performance.timeOrigin + performance.now()")
        events = json.loads(worker.evaluate(PY, "import json; json.dumps(_ds_tl)"))
        threshold = page.evaluate("async () => (await window.ducksync.query(\"SELECT "
                                  "current_setting('checkpoint_threshold') AS v\"))[0].v")
        if not done["ok"]:
            raise RuntimeError(done["error"])
        rep = done["report"]
        table = (rep.get("tables") or [{}])[0]
        return {"ms": done["ms"], "at": done["at"], "end": end, "load": os.getloadavg()[0],
                "pulled": rep.get("pulled"), "timings": table.get("timings"),
                "events": events, "threshold": threshold,
                "before": before, "size_before": size, "warm": warm}
    finally:
        page.context.close()


def analyse(r: dict[str, Any]) -> dict[str, Any]:
    """Per category sums, the local thread's idle gaps, and the events relative to the call."""
    t0, t_end = r["at"], r["at"] + r["ms"]
    ev = sorted((e for e in r["events"] if e[2] >= t0 - 1), key=lambda e: e[1])
    db = [e for e in ev if e[0] == "db"]
    pages = [e for e in ev if e[0] == "page"]
    cats: dict[str, list[float]] = {}
    for e in db:
        cats.setdefault(_category(e[3]), []).append(e[2] - e[1])
    # idle gaps of the local DuckDB thread between the call and the answer
    gaps, cursor = [], t0
    for e in db:
        if e[1] > cursor + 2:
            waiting = any(p[1] < e[1] and p[2] > cursor for p in pages)
            gaps.append((cursor - t0, e[1] - cursor, waiting, e[3][:60]))
        cursor = max(cursor, e[2])
    if t_end > cursor + 2:
        gaps.append((cursor - t0, t_end - cursor, False, "(the answer)"))
    busy = sum(e[2] - e[1] for e in db)
    return {"cats": {c: (len(v), sum(v)) for c, v in cats.items()}, "gaps": gaps,
            "busy": busy, "events": ev, "t0": t0}


def report(r: dict[str, Any], verbose: bool) -> None:
    a = analyse(r)
    t0 = a["t0"]
    out = sys.stdout
    print(f"\n== pull {r['ms']:,.0f} ms (load {r['load']:.2f}), rows {r['pulled']}, local DB "
          f"busy {a['busy']:,.0f} ms, idle {sum(g[1] for g in a['gaps']):,.0f} ms "
          f"(waiting for a page {sum(g[1] for g in a['gaps'] if g[2]):,.0f}); "
          f"checkpoint_threshold after: {r.get('threshold')}; before the pull "
          f"{r.get('before')} {r.get('size_before')}", file=out)
    if verbose:
        for kind, s, e, label in a["events"]:
            if kind == "db" and e - s < 1.0:
                label = label[:70]
            print(f"  {s - t0:8.1f} {e - s:8.1f}  {kind:6} {label[:150]}", file=out)
    print("  by category (n, ms):", file=out)
    for c, (n, ms) in sorted(a["cats"].items(), key=lambda kv: -kv[1][1]):
        print(f"    {c:14} {n:3} {ms:8.1f}", file=out)
    print("  phases:", " ".join(f"{k} {v:.0f}" for k, v in (r["timings"] or {}).items()),
          file=out)
    print("  pages (asked at, took):", " | ".join(
        f"{s - t0:.0f} +{e - s:.0f}" for k, s, e, _ in a["events"] if k == "page"), file=out)
    print("  idle gaps > 2 ms (at, ms, page in flight, next statement):", file=out)
    for at, ms, waiting, nxt in a["gaps"]:
        if ms >= 5:
            print(f"    {at:8.1f} {ms:7.1f} {'page' if waiting else '    '} {nxt}", file=out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None)
    ap.add_argument("--quiet", action="store_true", help="no per-event listing")
    ap.add_argument("--warm", action="store_true",
                    help="time a warm device's pull: each fresh profile first pulls another "
                         "table of the same rows (untimed)")
    ap.add_argument("--before", action="append", default=[],
                    help="alternate pulls with SQL run through the page first (repeatable: "
                         "'' for none, e.g. --before '' --before CHECKPOINT)")
    args = ap.parse_args()
    import duckdb
    from playwright.sync_api import sync_playwright

    su = serverutil()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        with duckdb.connect(str(Path(tmp) / "remote.duckdb")) as con:
            con.execute(data.create_sql())
            con.execute(data.fill_sql(args.rows))
            if args.warm:
                con.execute(data.create_sql(WARM_TABLE))
                con.execute(data.fill_sql(args.rows, WARM_TABLE))
        server = su.start_server(Path(tmp))
        browser = pw.chromium.launch(**launch_options())
        results = []
        try:
            # the server's first answers and the HTTP cache warm up
            _pull(browser, server.url, [])
            for _ in range(args.repeat):
                for sql in args.before or [""]:
                    r = _pull(browser, server.url, [sql] if sql else [], args.warm)
                    results.append(r)
                    report(r, verbose=not args.quiet)
        finally:
            browser.close()
            server.stop()
            if args.out:
                Path(args.out).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
