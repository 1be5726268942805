"""The page's leg of the latency suite: syncs in real Chromium, 50 ms from the server.

The same everyday syncs as :mod:`ducksync.bench.latency` (three tables of
``latency.ROWS`` rows; nothing changed, one row, a thousand rows), run by the page
(``ducksync.sync`` timed in the page: page → local worker → remote worker → server),
with :class:`~ducksync.bench.delay_proxy.DelayProxy` between the page and the server
adding ``latency.DELAY_S`` before each HTTP request and counting the sync API's requests:

* ``page``: a real server on a file remote;
* ``page both legs``: the real app on the cloud stand-in (``latency.cloud_server``),
  ``DELAY_S`` before each request AND before each call that reaches the stand-in;
* ``page direct``: the page's own ``motherduck`` transport (no server in the path) on
  the browser tests' loopback stand-in for the service (``tests/e2e/
  loopback_sql.worker.mjs``), ``DELAY_S`` before each call that reaches it, counted as
  round trips the way the cloud stand-in counts them; a client of the embedding API
  alone (the app's page UI lists the remote's tables after a sync: calls of its own).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ducksync.bench import latency, startup
from ducksync.bench.delay_proxy import DelayProxy
from ducksync.bench.repo import launch_options, serverutil
from ducksync.bench.results import Results
from ducksync.stores.remote_sql import TABLE_VERSIONS

TABLES = latency.TABLES
FILL_JS = """async ({tables, rows}) => {
  for (const t of tables) {
    await window.ducksync.exec(`CREATE TABLE ${t} (id INTEGER PRIMARY KEY, v VARCHAR, n DOUBLE)`);
    await window.ducksync.exec(
      `INSERT INTO ${t} SELECT i, 'v' || i, i / 7 FROM range(${rows}) t(i)`);
  }
}"""
SYNC_JS = """async (tables) => {
  const t0 = performance.now();
  const report = await window.ducksync.sync({tables});
  return {ms: performance.now() - t0, report};
}"""


def _timed(page: Any, proxy: DelayProxy, clouds: list[Any],
           delay_s: float) -> tuple[float, int, int]:
    """(ms, sync API requests, round trips at the stand-in) of one sync of every table."""
    proxy.delay_s = delay_s
    proxy.reset()
    for cloud in clouds:
        cloud.delay_s = delay_s
        cloud.reset()
    out = page.evaluate(SYNC_JS, list(TABLES))
    report = out["report"]
    if report.get("error") or any(not t.get("converged", True) for t in report.get("tables", [])):
        raise RuntimeError(f"page latency bench: a sync failed: {report}")
    # the server's change-feed poll (one statement, while a page listens) is not the sync's
    polls = sum(s == TABLE_VERSIONS for c in clouds for s in c.statements)
    return float(out["ms"]), proxy.requests, sum(c.round_trips for c in clouds) - polls


def _everyday(browser: Any, url: str, clouds: list[Any], res: Results, prefix: str,
              log: latency.Log) -> None:
    proxy = DelayProxy(target_port=int(urlsplit(url).port or 80)).start()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{proxy.url}/?sync=manual&tables={','.join(TABLES)}")
        page.wait_for_function(startup.READY, timeout=180_000)
        page.evaluate("() => window.ducksync.configureSync({interval: 0, onWrite: false})")
        page.evaluate(FILL_JS, {"tables": list(TABLES), "rows": latency.ROWS})
        _timed(page, proxy, clouds, 0.0)  # the initial push
        unit = "both" if clouds else "requests"
        syncs = _syncs()
        # A warm-up pass: a long-lived server's pooled stores have each read the catalog
        # (a store's first survey and first write of a table read it: more round trips).
        for delays, timed in (((0.0,) * 2, False), ((0.0, latency.DELAY_S), True)):
            for label, writes in syncs:
                for delay in delays:
                    for sql in writes:
                        page.evaluate("(s) => window.ducksync.exec(s)", sql)
                    took = _timed(page, proxy, clouds, delay)
                    if timed:
                        latency.record(res, prefix + label, unit, delay, took, log)
    finally:
        context.close()
        proxy.stop()


LOOPBACK = "/dist/loopback_sql.worker.js"
LOOPBACK_TOKEN = "loopback-good-token-4e1f"  # the only token it accepts
# The loopback service's counts so far ({calls, roundTrips}), asked on its channel.
COUNTS_JS = """() => new Promise((resolve) => {
  const channel = new BroadcastChannel("ducksync-loopback-counts");
  channel.onmessage = ({data}) => { channel.close(); resolve(data); };
  channel.postMessage({ask: true});
})"""


# A client of the embedding API alone (no page UI making calls of its own), on the
# page's ``motherduck`` transport.
DIRECT_JS = """async ({service, token, tables}) => {
  const m = await import("/dist/ducksync.js");
  const c = await m.connect({db: "opfs://latency-direct.duckdb", transport: "motherduck",
                             token, service, autoSync: false, tables});
  c.configureSync({interval: 0, onWrite: false});
  window.ducksync = c;
}"""


def _direct(browser: Any, url: str, res: Results, log: latency.Log) -> None:
    """The everyday syncs over the page's ``motherduck`` transport with the service at
    0 ms, then at ``DELAY_S`` (the service module's own parameter), each in a fresh
    profile (the service's database lives in its OPFS), warmed up first, as a page that
    stays open is."""
    for delay in (0.0, latency.DELAY_S):
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(f"{url}/readyz")  # a plain page of the app's origin: no default client
            page.evaluate(DIRECT_JS, {"service": f"{LOOPBACK}?latency_ms={delay * 1000:.0f}",
                                      "token": LOOPBACK_TOKEN, "tables": list(TABLES)})
            page.evaluate(FILL_JS, {"tables": list(TABLES), "rows": latency.ROWS})
            page.evaluate(SYNC_JS, list(TABLES))  # the initial push
            for timed in (False, True):
                for label, writes in _syncs():
                    for sql in writes:
                        page.evaluate("(s) => window.ducksync.exec(s)", sql)
                    before = page.evaluate(COUNTS_JS)
                    out = page.evaluate(SYNC_JS, list(TABLES))
                    after = page.evaluate(COUNTS_JS)
                    if timed:
                        trips = after["roundTrips"] - before["roundTrips"]
                        calls = after["calls"] - before["calls"]
                        latency.record(res, "page direct " + label, "round trips", delay,
                                       (float(out["ms"]), trips, calls), log)
        finally:
            context.close()


def _syncs() -> tuple[tuple[str, tuple[str, ...]], ...]:
    return (("no-op sync", ()),
            ("1-row push", (f"UPDATE {TABLES[0]} SET v = v || '+' WHERE id = 1",)),
            ("1k push", (f"UPDATE {TABLES[1]} SET n = n + 1 WHERE id % 10 = 3",)))


def run(tmp: Path, res: Results, *, log: latency.Log) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(**launch_options())
        try:
            server = serverutil().start_server(tmp)
            try:
                _everyday(browser, server.url, [], res, "page ", log)
                _direct(browser, server.url, res, log)
            finally:
                server.stop()
            with latency.cloud_server(tmp) as (url, clouds):
                _everyday(browser, url, clouds, res, "page both legs ", log)
        finally:
            browser.close()
