"""After a live pull (another device's row, brought by the change feed), when does each
panel of the receiving page show the new count? ms from the sync's end (its ``sync``
event) to the Tables list, the schema browser ("On this device", "On the server") and
the Remote section's list showing it (docs/benchmarks.md, session 15, live panels).

    PYTHONPATH=$PWD/py .venv/bin/python scripts/probe_live_panels.py --trials 10

``--root`` serves another checkout's page (an A/B against main, extracted with
``git archive``), with its assets built.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

PANELS = {"tables": "#sync-tables-body tr[data-table='notes'] td.num",
          "schema": "#schema-local details[data-table='notes'] .schema-rows",
          "server": "#schema-remote tr[data-table='notes'] td.num",
          "hold": "#remote-tables-body tr[data-table='notes'] td.num"}
# On B, installed once: the time of the sync event that ended a run, and of each panel's
# first showing of the count ``window.__want`` (the schema browser's text is "N rows").
WATCH = """() => {
    const panels = PANELS;
    const shows = (sel) => (document.querySelector(sel)?.textContent ?? '').split(' ')[0]
        === String(window.__want);
    window.__t = {};
    const look = () => { for (const [name, sel] of Object.entries(panels))
        if (!(name in window.__t) && shows(sel)) window.__t[name] = performance.now(); };
    new MutationObserver(look).observe(document.body,
                                       {subtree: true, childList: true, characterData: true});
    let running = false;
    window.ducksync.on('sync', (s) => {
        if (running && !s.running && !('ended' in window.__t)) window.__t.ended = performance.now();
        running = s.running; });
}"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = ap.parse_args()
    sys.path[:0] = [str(args.root / "tests"), str(args.root / "tests" / "e2e")]
    from pageutil import manual, wait_ready
    from playwright.sync_api import sync_playwright

    from ducksync.testing.browser import launch_options
    from serverutil import start_server

    watch = WATCH.replace("PANELS", json.dumps(PANELS))
    done = ("() => { const t = window.__t; return t && " + json.dumps(["ended", *PANELS]) +
            ".every((k) => k in t); }")
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        server = start_server(Path(tmp))
        browser = p.chromium.launch(**launch_options())
        try:
            def device(url: str) -> Any:
                page = browser.new_context().new_page()
                page.goto(url)
                return wait_ready(page)

            a, b = device(manual(server.url)), device(server.url)
            b.evaluate("window.ducksync.configureSync({interval: 0, onWrite: false})")
            b.wait_for_function("() => window.ducksync.status().sync.feed?.state === 'live'"
                                " && window.ducksync.status().sync.in_sync", timeout=60_000)
            a.evaluate("window.ducksync.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY)')")
            b.evaluate(watch)
            for n in range(1, args.trials + 2):
                b.evaluate("(n) => { window.__want = n; window.__t = {}; }", n)
                a.evaluate(f"window.ducksync.exec('INSERT INTO notes VALUES ({n})')")
                a.evaluate("window.ducksync.sync()")
                b.wait_for_function(done, timeout=60_000)
                t = b.evaluate("window.__t")
                if n > 1:  # the first creates the table on B: a bootstrap, not a live pull
                    rows.append({k: t[k] - t["ended"] for k in PANELS})
                b.wait_for_function("() => !window.ducksync.status().sync.running")
        finally:
            browser.close()
            server.stop()
    print("ms from the sync's end to each panel showing the pulled count "
          f"({len(rows)} trials; p50 / max)")
    for name in PANELS:
        values = [r[name] for r in rows]
        print(f"  {name:7s} {statistics.median(values):6.0f} / {max(values):6.0f}")
    spread = [max(r.values()) - min(r.values()) for r in rows]
    local = [abs(r["tables"] - r["schema"]) for r in rows]
    print(f"  first to last panel   {statistics.median(spread):6.0f} / {max(spread):6.0f}")
    print(f"  Tables vs schema      {statistics.median(local):6.0f} / {max(local):6.0f}")


if __name__ == "__main__":
    main()
