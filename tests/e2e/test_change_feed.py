"""The change feed in the browser: another device's write shows with no sync call.

Three browser contexts (three devices) on one real server. Device A writes and syncs;
devices B and C, idle, with their interval off, must show the row: only the feed can have
told them. Then
the server is stopped and started again on the same port and remote: B's feed says
``fallback`` while it is gone, reconnects by itself, and the next write on A reaches B
again. Waits are on the app's own state, never sleeps.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pageutil import ex, manual, open_in_new_context, sync

from serverutil import free_port, start_server

pytestmark = pytest.mark.browser

STARTED = "() => window.ducksync.status().sync.in_sync"
FEED_STATE = "(want) => window.ducksync.status().sync.feed?.state === want"
ROWS = """async () => {
    try { return (await window.ducksync.query('SELECT count(*)::INTEGER AS n FROM notes'))[0].n; }
    catch { return 0; } }"""  # the table arrives with the first pull
WAIT_MS = 30_000  # a bound, not a speed target (cross-device latency: docs/benchmarks.md)


def wait_log(page: Any, trigger: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        runs = [r for r in page.evaluate("window.ducksync.syncLog(10)") if r["trigger"] == trigger]
        if runs:
            return runs
        assert time.monotonic() < deadline, f"no {trigger} run in the sync log"
        page.wait_for_timeout(50)


def wait_rows(page: Any, n: int) -> None:
    """Poll the device's own query (a predicate that awaits cannot go to wait_for_function)."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while page.evaluate(ROWS) != n:
        assert time.monotonic() < deadline, f"the device never showed {n} rows"
        page.wait_for_timeout(50)


def test_a_write_on_one_device_shows_on_the_other_and_the_feed_reconnects(
        browser: Any, tmp_path: Path) -> None:
    port = free_port()
    server = start_server(tmp_path, port=port)
    a = open_in_new_context(browser, manual(server.url))  # A syncs when the test says
    b = open_in_new_context(browser, server.url)  # B: automatic, but no interval
    c = open_in_new_context(browser, server.url)  # C: a third device, idle like B
    restarted = None
    try:
        for idle in (b, c):
            idle.evaluate("window.ducksync.configureSync({interval: 0, onWrite: false})")
            idle.wait_for_function(FEED_STATE, arg="live", timeout=WAIT_MS)
            idle.wait_for_function(STARTED, timeout=WAIT_MS)  # its start sync is over
        ex(a, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR)")
        ex(a, "INSERT INTO notes VALUES (1, 'from A')")
        assert sync(a)["pushed"] == 1
        wait_rows(b, 1)
        wait_rows(c, 1)  # every listening device, not only one
        runs = wait_log(b, "feed")  # the run is logged just after its rows show
        assert runs[0]["rows_pulled"] == 1 and runs[0]["tables"] == ["notes"], runs

        server.stop()
        b.wait_for_function(FEED_STATE, arg="fallback", timeout=WAIT_MS)
        reason = b.evaluate("window.ducksync.status().sync.feed.reason")
        assert reason, "the page says why it fell back"
        restarted = start_server(tmp_path, port=port)  # same port, same remote file
        b.wait_for_function(FEED_STATE, arg="live", timeout=WAIT_MS)
        ex(a, "INSERT INTO notes VALUES (2, 'after the restart')")
        assert sync(a)["pushed"] == 1
        wait_rows(b, 2)
        # B did not write notes since its last sync and the event named the key A wrote:
        # the fast pull fetched that row alone, proved by checksum (engine/feed_pull.py)
        b.wait_for_function("() => !window.ducksync.status().sync.running && "
                            "window.ducksync.status().sync.last_run?.tables?.notes",
                            timeout=WAIT_MS)
        last = b.evaluate("window.ducksync.status().sync.last_run")
        assert last["trigger"] == "feed" and "feed-pull" in last["tables"]["notes"]["paths"], last
        assert "detect.remote" not in last["tables"]["notes"]["timings"], last

        # B's own commit is announced to B too: it holds those rows, so it runs no sync
        before = len(b.evaluate("window.ducksync.syncLog(50)"))
        ex(b, "INSERT INTO notes VALUES (3, 'from B')")
        assert sync(b)["pushed"] == 1
        ex(a, "INSERT INTO notes VALUES (4, 'from A again')")
        assert sync(a)["pushed"] == 1  # announced after B's own commit
        wait_rows(b, 4)
        b.wait_for_function("() => !window.ducksync.status().sync.running", timeout=WAIT_MS)
        wait_log(b, "feed")
        log = b.evaluate("window.ducksync.syncLog(50)")
        feed_runs = [r for r in log[:len(log) - before] if r["trigger"] == "feed"]
        assert [r["rows_pulled"] for r in feed_runs] == [1], log
    finally:
        for device in (a, b, c):
            device.context.close()
        (restarted or server).stop()
        server.stop()
