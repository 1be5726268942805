"""Offline-first end to end: edit offline, reload offline, reconnect, and two devices converge.

Device A goes offline the hard way (its server is stopped and its context is offline), edits,
reloads from the service worker's cache, and keeps the edit in OPFS. The same server (same
port, same remote file) comes back; A's reconnect trigger pushes on its own, and device B
pulls A's offline edit. Waits are on the app's own state, never sleeps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pageutil import ex, manual, open_in_new_context, q, sync, wait_ready

from serverutil import free_port, start_server

pytestmark = pytest.mark.browser

SW_CONTROLS = "() => navigator.serviceWorker.controller?.state === 'activated'"
ROWS = "SELECT * FROM trips ORDER BY id"
LAST_SYNC = "() => window.ducksync.status().sync.last_sync"
SYNCED_SINCE = """(before) => { const s = window.ducksync.status().sync;
    return s.phase === 'idle' && s.last_sync && s.last_sync !== before; }"""


def open_device(browser: Any, url: str) -> tuple[Any, Any]:
    page = open_in_new_context(browser, manual(url))
    # Only the page's own calls sync until the test says otherwise.
    page.evaluate("window.ducksync.configureSync({interval: 0, onWrite: false})")
    return page.context, page


def test_offline_edit_survives_reload_and_is_pushed_after_reconnect(browser: Any,
                                                                     tmp_path: Path) -> None:
    port = free_port()
    server = start_server(tmp_path, port=port)
    context_a, a = open_device(browser, server.url)
    context_b, b = open_device(browser, server.url)
    try:
        a.wait_for_function(SW_CONTROLS)  # the offline reload below needs the precache
        ex(a, "CREATE TABLE trips (id INTEGER PRIMARY KEY, note VARCHAR)")
        ex(a, "INSERT INTO trips VALUES (1, 'planned'), (2, 'planned'), (3, 'planned')")
        assert sync(a, tables=["trips"])["pushed"] == 3
        assert sync(b, tables=["trips"])["pulled"] == 3

        server.stop()
        context_a.set_offline(True)
        ex(a, "UPDATE trips SET note = 'edited offline' WHERE id = 2")
        ex(a, "INSERT INTO trips VALUES (4, 'added offline')")
        edited = q(a, ROWS)

        a.reload()  # offline: the service worker serves the app, OPFS keeps the edit
        wait_ready(a)
        assert a.evaluate("window.ducksync.status().remote.phase") == "offline"
        assert q(a, ROWS) == edited

        synced_before = a.evaluate(LAST_SYNC)
        restarted = start_server(tmp_path, port=port)  # the same server comes back
        try:
            context_a.set_offline(False)
            # No explicit sync: the reconnect trigger (or the retry after a failed attempt)
            # must push the offline edit by itself.
            a.wait_for_function(SYNCED_SINCE, arg=synced_before, timeout=60_000, polling=500)
            pushed = [e for e in a.evaluate("window.ducksync.syncLog(5)")
                      if e["outcome"] == "ok" and e["trigger"] != "manual"]
            assert pushed and pushed[0]["rows_pushed"] == 2, pushed
            pulled = sync(b, tables=["trips"])
            assert pulled["pulled"] == 2 and pulled["converged"]
            assert q(b, ROWS) == q(a, ROWS) == edited
        finally:
            restarted.stop()
    finally:
        context_a.close()
        context_b.close()
        server.stop()
