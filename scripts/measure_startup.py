"""Measure start-up and DuckDB hosting in real Chromium against a real server.

For each DuckDB hosting (``blocking`` bundle inside the Pyodide worker, ``async``
= AsyncDuckDB in a nested worker) it opens the app in a *fresh* browser profile
(cold: empty HTTP cache, empty OPFS), then, once its service worker is installed, reloads
it in the same profile (warm: a return visit),
``--runs`` times, and prints the medians of the page's ``performance.mark``s
(milliseconds since navigation) and of the workers' boot steps. Then it times a
few queries in the local worker (Arrow IPC out, no main-thread decoding).

    .venv/bin/python scripts/measure_startup.py [--runs 3] [--modes blocking,async]
    .venv/bin/python scripts/measure_startup.py --timeline [--runs 5]

``--timeline`` skips the query timings (which write to the database) and prints, in
ms since navigation, every worker's boot milestones (``workers/boot.mjs`` ``mark``)
next to the page's marks, cold and warm: the start-up breakdown of docs/startup.md.

``--web-roots A,B`` is the A/B mode: one server per web root (a copy of ``web/`` with
its built ``dist/``, served through ``DUCKSYNC_WEB_ROOT``), runs alternating between
them so both builds see the same machine load; medians per root.

    cp -r web /tmp/A   # build A ... then build B into web/
    .venv/bin/python scripts/measure_startup.py --timeline --modes async --runs 6 \
        --web-roots /tmp/A,web
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from ducksync.bench.startup import (  # shared with the bench
    median_table,
    sample,
    timeline,
    wait_offline_ready,
)

ROOT = Path(__file__).resolve().parents[1]
QUERIES = {
    "SELECT 1 (x20, mean)": ("SELECT 1", 20),
    "1M rows x 2 BIGINT -> IPC": ("SELECT range AS i, range * 2 AS j FROM range(1000000)", 1),
    "CTAS 1M rows + CHECKPOINT (OPFS)": (
        "CREATE OR REPLACE TABLE bench AS SELECT range AS i, range * 2 AS j FROM range(1000000)",
        1),
}


def launch_options() -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("pc", ROOT / "playwright.config.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    options: dict[str, Any] = module.launch_options()
    return options


def start_server(tmp: Path, port: int, web_root: Path | None = None
                 ) -> subprocess.Popen[bytes]:
    env = {**os.environ, **({"DUCKSYNC_WEB_ROOT": str(web_root)} if web_root else {})}
    tmp.mkdir(parents=True, exist_ok=True)
    with (tmp / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ducksync", "serve", "--port", str(port),
             "--remote", str(tmp / "remote.duckdb")], cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT, env=env)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError((tmp / "server.log").read_text())


def time_queries(page: Page) -> dict[str, float]:
    timings: dict[str, float] = {}
    for label, (sql, repeat) in QUERIES.items():
        timings[label] = page.evaluate("""async ([sql, repeat]) => {
            const t0 = performance.now();
            for (let i = 0; i < repeat; i++) await window.ducksync.local.request("query", {sql});
            return (performance.now() - t0) / repeat;
        }""", [sql, repeat])
    return timings


def one_run(pw: Any, profile: Path, url: str, with_timeline: bool
            ) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Cold (fresh profile), then warm (reload): marks, and query timings unless timeline."""
    context = pw.chromium.launch_persistent_context(str(profile), **launch_options())
    try:
        page = context.new_page()
        page.goto(url)
        cold = sample(page)
        queries: dict[str, float] = {}
        if with_timeline:
            cold.update(timeline(page))
        else:
            queries = time_queries(page)  # writes before the reload (see duck.mjs)
        wait_offline_ready(page)  # warm = a return visit (service worker installed)
        page.reload()
        warm = sample(page)
        if with_timeline:
            warm.update(timeline(page))
        return cold, warm, queries
    finally:
        context.close()


def report(title: str, cold: list[dict[str, float]], warm: list[dict[str, float]],
           queries: list[dict[str, float]]) -> None:
    print(f"\n== {title} (median of {len(cold)}; ms) ==")
    c, w = median_table(cold), median_table(warm)
    print(f"{'':44} {'cold':>8} {'warm':>8}")
    for key in sorted(c, key=lambda k: (" step: " in k, w.get(k, c[k]))):
        print(f"{key:44} {c[key]:8.0f} {w.get(key, float('nan')):8.0f}")
    for key, value in (median_table(queries) if queries else {}).items():
        print(f"{key:44} {value:8.1f}")
    firsts = ", ".join(f"{s['first query result']:,.0f}" for s in warm)
    print(f"warm first query, every run: {firsts}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="blocking,async")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--timeline", action="store_true",
                        help="print worker boot milestones; no query timings")
    parser.add_argument("--web-roots", default="",
                        help="A/B: comma-separated web roots, runs alternate between them")
    args = parser.parse_args()
    roots: list[Path | None] = [Path(r).resolve() for r in args.web_roots.split(",") if r]
    roots = roots or [None]
    with tempfile.TemporaryDirectory() as tmpdir, sync_playwright() as pw:
        tmp = Path(tmpdir)
        servers = [start_server(tmp / f"server-{i}", args.port + i, root)
                   for i, root in enumerate(roots)]
        try:
            for mode in args.modes.split(","):
                cold: list[list[dict[str, float]]] = [[] for _ in roots]
                warm: list[list[dict[str, float]]] = [[] for _ in roots]
                queries: list[list[dict[str, float]]] = [[] for _ in roots]
                for run in range(args.runs):
                    for i, root in enumerate(roots):
                        url = f"http://127.0.0.1:{args.port + i}/?duckdb={mode}"
                        c, w, q = one_run(pw, tmp / f"profile-{mode}-{i}-{run}", url,
                                          args.timeline)
                        cold[i].append(c)
                        warm[i].append(w)
                        if q:
                            queries[i].append(q)
                        print(f"run {run + 1} {root or 'web'}: first query cold "
                              f"{c['first query result']:,.0f} ms, warm "
                              f"{w['first query result']:,.0f} ms; load "
                              f"{os.getloadavg()[0]:.2f}", flush=True)
                for i, root in enumerate(roots):
                    report(f"DuckDB hosting: {mode}; web root {root or 'web'}",
                           cold[i], warm[i], queries[i])
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
