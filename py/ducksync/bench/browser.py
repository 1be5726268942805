"""The browser suites: real Debian chromium (Playwright) against a real ``ducksync serve``.

* ``start``: fresh profile (cold: empty HTTP cache and OPFS), then, once the service
  worker registered by that visit has installed, a reload (warm: a return visit).
* ``browser``: the 6-column table in the page's OPFS database; initial push through
  the server, the seed's approach (baseline, sampled), DuckDB-WASM's own Arrow
  export + ingest (reference, no network), incremental syncs, and per-worker peak
  memory during a large push (CDP ``Runtime.getHeapUsage`` per worker target:
  JS heap + ArrayBuffer backing stores, which hold the WASM memories).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ducksync.bench import startup
from ducksync.bench.repo import launch_options, serverutil
from ducksync.bench.results import Results

Log = Callable[[str], None]


@contextlib.contextmanager
def _server(tmp: Path, name: str) -> Iterator[Any]:
    folder = tmp / name
    folder.mkdir(parents=True, exist_ok=True)
    server = serverutil().start_server(folder)
    try:
        yield server
    finally:
        server.stop()


def run_start(pw: Any, tmp: Path, url: str, res: Results, *, runs: int, log: Log) -> None:
    cold: list[dict[str, float]] = []
    warm: list[dict[str, float]] = []
    for run in range(runs):
        context = pw.chromium.launch_persistent_context(str(tmp / f"start-profile-{run}"),
                                                        **launch_options())
        try:
            page = context.new_page()
            page.goto(url)
            cold.append(startup.sample(page))
            startup.wait_offline_ready(page)  # the first visit's set-up is over
            page.reload()
            warm.append(startup.sample(page))
        finally:
            context.close()
        log(f"start run {run + 1}: cold first query {cold[-1]['first query result']:,.0f} ms, "
            f"warm {warm[-1]['first query result']:,.0f} ms")
    for label, samples in (("cold", cold), ("warm", warm)):
        med = startup.median_table(samples)
        how = f"median of {runs}; ms since navigation" + (
            " (fresh profile: empty HTTP cache, empty OPFS)" if label == "cold"
            else " (return visit: HTTP cache, service worker installed, OPFS database present)")
        for name, mark in startup.MILESTONES.items():
            res.add("start", f"{label} {name} ms", med.get(mark), "ms", how)
        for key in ("local step: pyodide", "remote step: pyodide", "local step: duckdb-ready-at"):
            if key in med:
                res.add("start", f"{label} {key} ms", med[key], "ms", "worker boot step")


def run(tmp: Path, res: Results, *, opts: Any, log: Log) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw, _server(tmp, "browser-server") as server:
        if "start" in opts.only:
            run_start(pw, tmp, server.url + "/", res, runs=opts.runs, log=log)
        if "browser" in opts.only:
            from ducksync.bench import browser_data

            browser_data.run(pw, tmp, server, res, opts=opts, log=log)
