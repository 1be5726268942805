"""Offline-first end to end: edit offline, reload offline, reconnect, and two devices converge.

Device A goes offline the hard way (its server is stopped and its network cut), edits,
reloads from the service worker's cache, and keeps the edit in OPFS. The same server (same
port, same remote file) comes back; A's reconnect trigger pushes on its own, and device B
pulls A's offline edit. Written with the testing kit (docs/testing.md); waits are on the
app's own state, never sleeps.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from ducksync.testing import assert_converged

pytestmark = pytest.mark.browser

SW_CONTROLS = "() => navigator.serviceWorker.controller?.state === 'activated'"
ROWS = "SELECT * FROM trips ORDER BY id"


def open_device(ducksync_device: Any, server: Any) -> Any:
    device = ducksync_device(server, path="/?sync=manual")
    # Only the test's own calls sync until the test says otherwise.
    device.call("configureSync", {"interval": 0, "onWrite": False})
    return device


def test_offline_edit_survives_reload_and_is_pushed_after_reconnect(
        ducksync_server: Any, ducksync_device: Any) -> None:
    server = ducksync_server()
    a, b = open_device(ducksync_device, server), open_device(ducksync_device, server)
    a.page.wait_for_function(SW_CONTROLS)  # the offline reload below needs the precache
    a.exec("CREATE TABLE trips (id INTEGER PRIMARY KEY, note VARCHAR)")
    a.exec("INSERT INTO trips VALUES (1, 'planned'), (2, 'planned'), (3, 'planned')")
    assert a.sync(tables=["trips"])["pushed"] == 3
    assert b.sync(tables=["trips"])["pulled"] == 3

    server.stop()
    with a.offline():
        a.exec("UPDATE trips SET note = 'edited offline' WHERE id = 2")
        a.exec("INSERT INTO trips VALUES (4, 'added offline')")
        edited = a.query(ROWS)

        a.reload()  # offline: the service worker serves the app, OPFS keeps the edit
        assert a.status()["remote"]["phase"] == "offline"
        assert a.query(ROWS) == edited
        synced_before = a.status()["sync"]["last_sync"]
        server.start()  # the same server comes back (same port and remote file)
    # Back online, no explicit sync: the reconnect trigger (or the retry after a failed
    # attempt) must push the offline edit by itself.
    a.wait_for(f"""db => {{ const s = db.status().sync;
        return s.phase === 'idle' && s.last_sync && s.last_sync !== {json.dumps(synced_before)};
        }}""", timeout_ms=60_000)
    pushed = [e for e in a.call("syncLog", 5) if e["outcome"] == "ok" and e["trigger"] != "manual"]
    assert pushed and pushed[0]["rows_pushed"] == 2, pushed
    pulled = b.sync(tables=["trips"])
    assert pulled["pulled"] == 2 and pulled["converged"]
    rows = assert_converged(server, a, b, table="trips")
    assert [r["note"] for r in rows] == ["planned", "edited offline", "planned", "added offline"]
    assert a.query(ROWS) == edited


def test_an_older_health_answer_never_puts_connected_back_after_a_newer_one(
        ducksync_server: Any, ducksync_device: Any) -> None:
    """A probe sent while online can answer after the probe sent when the network went
    off: the older answer ("connected") must not override the newer ("offline"), which
    would hold the page 'connected' until the next periodic probe (30 s later)."""
    server = ducksync_server()
    device = open_device(ducksync_device, server)
    page = device.page
    body = page.request.get(server.url + "/readyz").text()  # a real "connected" answer
    held: list[Any] = []

    def hold(route: Any) -> None:  # the first probe is held, any later one goes through
        if held:
            route.fallback()
        else:
            held.append(route)

    page.context.route("**/readyz", hold)
    page.evaluate(f"() => {{ window.__older = ({device.client}).remoteHealth(); }}")
    deadline = time.monotonic() + 30
    while not held and time.monotonic() < deadline:  # the older probe is in flight
        page.wait_for_timeout(50)
    assert held, "the older probe never reached the network"
    with device.offline():  # the newer probe: no network, 'offline'
        assert device.status()["remote"]["phase"] == "offline"
        held[0].fulfill(status=200, content_type="application/json", body=body)
        older = page.evaluate("() => window.__older")  # its answer has been handled
        assert device.status()["remote"]["phase"] == "offline"
        assert older["status"] == "offline"  # its caller too gets the current answer
