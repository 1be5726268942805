"""Probe: the page's real initial pull of a 1M-row table under variants, alternated.

A server whose remote file holds the bench table (written straight into it), then per
pull a fresh browser context (a new device): the variant is applied in the page (SQL
through ``ducksync.exec``, or Python run in the local worker's Pyodide), then
``ducksync.sync({tables: ["bench"], direction: "pull"})`` is timed, with the engine's
phases from its report and the CPU time of the browser's processes. Variants alternate
so the load moves them alike. A measuring tool for docs/benchmarks.md (session 12).

    PYTHONPATH=$PWD/py flock /work/bench.lock .venv/bin/python scripts/probe_page_pull.py \
        [--variants today,pages1rg] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from ducksync.bench import data, startup
from ducksync.bench.browser_data import START_SYNC_JS
from ducksync.bench.repo import launch_options, serverutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_page_commits import _cpu_by_process

PY = "(code) => self.ducksyncDiagnostics.pyodide.runPython(code)"

# name -> (SQL run through the page before the pull, Python run in the local worker)
VARIANTS: dict[str, tuple[list[str], str]] = {
    "today": ([], ""),
    # today's setting set again through the page: the same path as the variants' SETs
    # (an exec waits for the page's start-up and checkpoints after it)
    "today_exec": (["SET checkpoint_threshold = '1MB'"], ""),
    "ckpt0": (["SET checkpoint_threshold = '0b'"], ""),
    "today_ckpt": (["CHECKPOINT"], ""),
    "today_query": ([], ""),  # a read through the page first (see _pull)
    "today_idle": ([], ""),  # the page left idle 3 s first (see _pull)
    "today_sw": ([], ""),  # the service worker installed and in control first (see _pull)
    "today_remote": ([], ""),  # the remote worker connected first (see _pull)
    # page bytes so small that each page is one row group (9 commits)
    "pages1rg": ([], "import ducksync.worker.sync_service as s; s.BATCH_BYTES = 10 << 20"),
    # pages up to 4 row groups: 1, 2, 4, rest
    "pages4rg": ([], "import ducksync.worker.sync_service as s; s.BATCH_BYTES = 64 << 20"),
}


def _pull(browser: Any, url: str, variant: str) -> dict[str, Any]:
    page = browser.new_context().new_page()
    try:
        page.goto(url + "/?sync=manual")
        page.wait_for_function(startup.READY, timeout=180_000)
        sqls, py = VARIANTS[variant]
        for sql in sqls:
            page.evaluate("async (s) => { await window.ducksync.exec(s); }", sql)
        if variant == "today_query":
            page.evaluate("async () => { await window.ducksync.query('SELECT 1'); }")
        if variant == "today_sw":
            startup.wait_offline_ready(page)
        if variant == "today_remote":
            page.wait_for_function(
                "async () => (await window.ducksync.remoteHealth()).status === 'connected'",
                polling=50)
        if variant == "today_idle":
            page.wait_for_timeout(3000)
        if py:
            worker = next(w for w in page.workers if "local.worker" in w.url)
            worker.evaluate(PY, py)
        cpu = _cpu_by_process()
        page.evaluate(START_SYNC_JS, {"tables": [data.TABLE], "direction": "pull"})
        page.wait_for_function("() => window.__bench", timeout=300_000, polling=100)
        done = page.evaluate("() => window.__bench")
        cpu = {k: round(v - cpu.get(k, 0.0)) for k, v in _cpu_by_process().items()}
        if not done["ok"]:
            raise RuntimeError(done["error"])
        rep = done["report"]
        table = (rep.get("tables") or [{}])[0]
        return {"variant": variant, "ms": done["ms"], "cpu_ms": sum(cpu.values()), "cpu": cpu,
                "load": os.getloadavg()[0], "pulled": rep.get("pulled"),
                "timings": table.get("timings")}
    finally:
        page.context.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--variants", default="today,ckpt0")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import duckdb
    from playwright.sync_api import sync_playwright

    su = serverutil()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        with duckdb.connect(str(Path(tmp) / "remote.duckdb")) as con:
            con.execute(data.create_sql())
            con.execute(data.fill_sql(args.rows))
        server = su.start_server(Path(tmp))
        browser = pw.chromium.launch(**launch_options())
        results = []
        try:
            # one pull first: the server's first answers and the HTTP cache warm up
            _pull(browser, server.url, "today")
            for _ in range(args.repeat):
                for v in args.variants.split(","):
                    r = _pull(browser, server.url, v)
                    results.append(r)
                    top = sorted((r["timings"] or {}).items(), key=lambda kv: -kv[1])[:6]
                    print(f"{v:10} load {r['load']:.1f} pull {r['ms']:,.0f} ms cpu "
                          f"{r['cpu_ms']:,.0f} {r['cpu']} | "
                          + " ".join(f"{k} {ms:.0f}" for k, ms in top), file=sys.stderr,
                          flush=True)
        finally:
            browser.close()
            server.stop()
            if args.out:
                Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
