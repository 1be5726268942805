"""Cross-device latency: a write on device A, visible to a query on idle device B.

Two browser contexts (two devices: own OPFS, own workers) on one real server. B opens
the app with automatic syncs but no interval and no sync after writes, so only the
change feed (docs/change-feed.md) can bring it A's rows; B polls its own database with
a tiny query every ``POLL_MS`` (what a UI showing the table would do) and notes when
the row appears. Wall clocks (``Date.now()``) of two pages of one machine agree.

* **synced → visible** (``TRIALS`` trials, p50/p99): from A's ``sync()`` resolving (the
  batch committed on the server) to B's query seeing the row: the feed's announcement,
  B's sync of that table, its commit.
* **written → visible** per after-write debounce (A syncs by itself ``debounce`` after
  its last write): the debounce adds to the above; 0 is an immediate push.
* **a burst of writes** (``BURST`` writes ``BURST_GAP_MS`` apart) per debounce: how many
  syncs A runs for them and their summed time: what a shorter debounce costs.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ducksync.bench.repo import launch_options, serverutil
from ducksync.bench.results import Results

SUITE = "feed"
TRIALS = 20
DEBOUNCES = (2.0, 0.5, 0.0)
DEBOUNCE_TRIALS = 5
BURST, BURST_GAP_MS = 10, 100
POLL_MS = 10
WAIT_MS = 60_000
Log = Callable[[str], None]

READY = "() => window.ducksync && document.body.dataset.ready === 'true'"
# B: poll its own database until row ``id`` shows, then note the wall time.
WATCH_JS = """(id) => {
  window.__seen = null;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const r = await window.ducksync.query(`SELECT 1 AS x FROM feed_lat WHERE id = ${id}`);
      if (r.length && window.__seen === null) { window.__seen = Date.now(); clearInterval(timer); }
    } catch { /* the table arrives with the first pull */ } finally { busy = false; }
  }, POLL_MS);
}""".replace("POLL_MS", str(POLL_MS))
WRITE_SYNC_JS = """async (id) => {
  await window.ducksync.exec(`INSERT INTO feed_lat VALUES (${id}, 'x')`);
  await window.ducksync.sync({tables: ['feed_lat']});
}"""
WRITE_JS = """async (id) => {
  const t = Date.now();
  await window.ducksync.exec(`INSERT INTO feed_lat VALUES (${id}, 'x')`);
  return t;
}"""
BURST_JS = """async ({first, n, gap}) => {
  for (let i = 0; i < n; i++) {
    await window.ducksync.exec(`INSERT INTO feed_lat VALUES (${first + i}, 'burst')`);
    await new Promise((r) => setTimeout(r, gap));
  }
}"""


def _page(browser: Any, url: str) -> Any:
    page = browser.new_context().new_page()
    page.goto(url)
    page.wait_for_function(READY, timeout=WAIT_MS)
    return page


def _seen(b: Any) -> int:
    b.wait_for_function("() => window.__seen !== null", timeout=WAIT_MS, polling=5)
    return int(b.evaluate("window.__seen"))


def _pct(samples: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank: with 20 samples p99 is the largest)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def _committed(applied: list[Any]) -> float:
    """When the server answered A's (last) batch, epoch ms: the commit, as A saw it.

    Not when A's ``sync()`` resolves: A still records the answer, checkpoints and logs the
    run after that, and B may already show the row by then."""
    if not applied:
        raise RuntimeError("feed bench: A's sync sent no batch")
    timing = applied[-1].timing
    return float(timing["startTime"] + timing["responseStart"])


def _epoch_ms(stamp: str) -> float:
    """Epoch ms of a sync_log stamp (UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    import datetime as dt

    return dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC).timestamp() * 1000


def _runs(a: Any) -> list[dict[str, Any]]:
    return list(a.evaluate("window.ducksync.syncLog(200)"))


def run(tmp: Path, res: Results, *, log: Log) -> None:
    from playwright.sync_api import sync_playwright

    folder = tmp / "feed-server"
    folder.mkdir(parents=True, exist_ok=True)
    server = serverutil().start_server(folder)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(**launch_options())
            try:
                _measure(browser, server.url, res, log)
            finally:
                browser.close()
    finally:
        server.stop()


def _measure(browser: Any, url: str, res: Results, log: Log) -> None:
    a = _page(browser, url.rstrip("/") + "/?sync=manual")
    b = _page(browser, url)
    b.evaluate("window.ducksync.configureSync({interval: 0, onWrite: false})")
    b.wait_for_function("() => window.ducksync.status().sync.feed?.state === 'live'",
                        timeout=WAIT_MS)
    a.evaluate("window.ducksync.exec('CREATE TABLE feed_lat (id INTEGER PRIMARY KEY, v VARCHAR)')")
    next_id = 0
    applied: list[Any] = []  # A's finished apply_batch requests (worker requests included)
    a.on("requestfinished", lambda r: applied.append(r) if r.method == "POST"
         and "/batches/" in r.url and not r.url.endswith("/batches/ack") else None)

    to_start: list[float] = []  # commit → B's sync of the table starts
    b_sync: list[float] = []  # B's sync of the table (its sync_log ms)
    fast: list[float] = []  # per trial: 1 when B's feed run took the fast pull

    def synced_to_visible() -> float:
        nonlocal next_id
        next_id += 1
        b.evaluate(WATCH_JS, next_id)
        applied.clear()
        a.evaluate(WRITE_SYNC_JS, next_id)
        committed, seen = _committed(applied), _seen(b)
        b.wait_for_function("() => !window.ducksync.status().sync.running", timeout=WAIT_MS)
        run = next((r for r in _runs(b) if r["trigger"] == "feed"), None)
        if run is not None:
            to_start.append(_epoch_ms(run["started_at"]) - committed)
            b_sync.append(float(run["ms"]))
        last = b.evaluate("window.ducksync.status().sync.last_run") or {}
        paths = (last.get("tables") or {}).get("feed_lat", {}).get("paths", [])
        fast.append(1.0 if last.get("trigger") == "feed" and "feed-pull" in paths else 0.0)
        return float(seen - committed)

    synced_to_visible()  # B's first pull of the table: not a trial
    to_start.clear()
    b_sync.clear()
    fast.clear()
    samples = [synced_to_visible() for _ in range(TRIALS)]
    how = (f"{TRIALS} trials: the server answered A's batch (committed) → B's query (every "
           f"{POLL_MS} ms) shows the row; B idle, interval off: only the change feed tells it")
    p50, p99 = statistics.median(samples), _pct(samples, 0.99)
    res.add(SUITE, "cross-device p50 ms", p50, "ms", how, samples)
    res.add(SUITE, "cross-device p99 ms", p99, "ms", how + " (p99 of 20: the largest)")
    if to_start and b_sync:
        res.add(SUITE, "cross-device: commit → B's sync starts, p50 ms",
                statistics.median(to_start), "ms",
                "the feed's announcement and B's scheduling (B's sync_log started_at)", to_start)
        res.add(SUITE, "cross-device: B's sync of the table, p50 ms", statistics.median(b_sync),
                "ms", "the pull the feed triggered (B's sync_log ms)", b_sync)
    res.add(SUITE, "cross-device: B's feed runs on the fast pull", sum(fast), "runs",
            f"of {len(fast)} trials: the announced keys' rows alone, proved by checksum "
            "(engine/feed_pull.py); the others ran the general sync")
    log(f"feed cross-device: p50 {p50:,.0f} ms, p99 {p99:,.0f} ms, "
        f"fast pull {sum(fast):.0f}/{len(fast)}")

    for debounce in DEBOUNCES:
        a.evaluate("(d) => window.ducksync.configureSync({onWrite: true, debounce: d})",
                   debounce)
        written = []
        for _ in range(DEBOUNCE_TRIALS):
            next_id += 1
            b.evaluate(WATCH_JS, next_id)
            t0 = int(a.evaluate(WRITE_JS, next_id))
            written.append(float(_seen(b) - t0))
            a.wait_for_function("() => !window.ducksync.status().sync.running",
                                timeout=WAIT_MS)
        label = f"debounce {debounce:g} s"
        res.add(SUITE, f"written → visible, {label} ms", statistics.median(written), "ms",
                f"median of {DEBOUNCE_TRIALS}: A's exec() → B's query shows the row; A syncs "
                "by itself after the debounce", written)
        before = len(_runs(a))
        next_id += 1
        b.evaluate(WATCH_JS, next_id + BURST - 1)
        a.evaluate(BURST_JS, {"first": next_id, "n": BURST, "gap": BURST_GAP_MS})
        _seen(b)
        a.wait_for_function("() => !window.ducksync.status().sync.running", timeout=WAIT_MS)
        after = _runs(a)
        runs = after[:len(after) - before]  # newest first
        next_id += BURST
        res.add(SUITE, f"burst syncs, {label}", float(len(runs)), "syncs",
                f"{BURST} writes {BURST_GAP_MS} ms apart: A's syncs for them "
                f"({sum(r['ms'] or 0 for r in runs):,.0f} ms of sync in all)")
        log(f"feed {label}: written → visible {statistics.median(written):,.0f} ms, "
            f"burst of {BURST}: {len(runs)} syncs")
    a.context.close()
    b.context.close()
