"""Measure browser sync speed: push N rows from one context, pull them into another.

    .venv/bin/python scripts/measure_sync.py --rows 1000000 --batch-rows 100000

Starts a real server (temp remote), real Chromium; prints rows/s for push and pull.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from playwright.sync_api import sync_playwright  # noqa: E402

from serverutil import start_server  # noqa: E402

READY = "() => window.ducksync && document.body.dataset.ready === 'true'"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("pc", ROOT / "playwright.config.py")
    assert spec and spec.loader
    config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config)
    server = start_server(Path(tempfile.mkdtemp(prefix="ducksync-measure-")))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(**config.launch_options())
            pages = []
            for _ in range(2):
                page = browser.new_context().new_page()
                page.goto(server.url)
                page.wait_for_function(READY, timeout=120_000)
                page.evaluate("window.ducksync.configureSync({interval: 0, onWrite: false})")
                pages.append(page)
            a, b = pages
            a.evaluate("""window.ducksync.exec("CREATE TABLE bench (id BIGINT PRIMARY KEY, "
                + "name VARCHAR, x DOUBLE, d DATE, flag BOOLEAN)")""")
            a.evaluate(f"""window.ducksync.exec("INSERT INTO bench SELECT range, 'name ' || "
                + "range, range / 7, DATE '2024-01-01' + (range % 365)::INTEGER, range % 2 = 0 "
                + "FROM range({args.rows})")""")
            out = {}
            for label, page, direction in (("push", a, "push"), ("pull", b, "pull")):
                r = page.evaluate("(o) => window.ducksync.sync(o)",
                                  {"tables": ["bench"], "direction": direction,
                                   "batchRows": args.batch_rows})
                moved = r["pushed"] if direction == "push" else r["pulled"]
                out[label] = {"rows": moved, "ms": r["ms"], "rows_per_s": round(moved / r["ms"]
                              * 1000), "bytes": r["bytes"], "outcome": r["outcome"]}
            print(json.dumps(out, indent=2))
            browser.close()
    finally:
        server.process.terminate()
        server.process.wait(timeout=10)


if __name__ == "__main__":
    main()
