"""Measure start-up and DuckDB hosting in real Chromium against a real server.

For each DuckDB hosting (``blocking`` bundle inside the Pyodide worker, ``async``
= AsyncDuckDB in a nested worker) it opens the app in a *fresh* browser profile
(cold: empty HTTP cache, empty OPFS), then reloads it in the same profile (warm),
``--runs`` times, and prints the medians of the page's ``performance.mark``s
(milliseconds since navigation) and of the workers' boot steps. Then it times a
few queries in the local worker (Arrow IPC out, no main-thread decoding).

    .venv/bin/python scripts/measure_startup.py [--runs 3] [--modes blocking,async]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from ducksync.bench.startup import median_table, sample  # shared with ducksync bench

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


def start_server(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    with (tmp / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ducksync", "serve", "--port", str(port),
             "--remote", str(tmp / "remote.duckdb")], cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="blocking,async")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir, sync_playwright() as pw:
        tmp = Path(tmpdir)
        server = start_server(tmp, args.port)
        try:
            for mode in args.modes.split(","):
                url = f"http://127.0.0.1:{args.port}/?duckdb={mode}"
                cold: list[dict[str, float]] = []
                warm: list[dict[str, float]] = []
                queries: list[dict[str, float]] = []
                for run in range(args.runs):
                    profile = tmp / f"profile-{mode}-{run}"
                    context = pw.chromium.launch_persistent_context(str(profile),
                                                                    **launch_options())
                    page = context.new_page()
                    page.goto(url)
                    cold.append(sample(page))
                    queries.append(time_queries(page))  # writes before the reload (see duck.mjs)
                    page.reload()
                    warm.append(sample(page))
                    context.close()
                print(f"\n== DuckDB hosting: {mode} (median of {args.runs}; ms) ==")
                c, w = median_table(cold), median_table(warm)
                print(f"{'':34} {'cold':>8} {'warm':>8}")
                for key in c:
                    print(f"{key:34} {c[key]:8.0f} {w.get(key, float('nan')):8.0f}")
                for key, value in median_table(queries).items():
                    print(f"{key:34} {value:8.1f}")
        finally:
            server.terminate()
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
