"""The kit's devices in real Chromium: two signed-in devices edit, one goes offline, they converge.

One server and two devices (each a browser context booting the real app) carry the
device methods, ``user=`` sign-in, ``offline()``, ``assert_converged`` on values rendered
by DuckDB-WASM against native DuckDB (both ways: equal, and a real difference),
``wait_until`` and the console-error expectations. ``reload()`` and a server that stops
and comes back are in tests/e2e/test_reconnect.py, written with the kit too.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from ducksync.testing import assert_converged, wait_until

pytestmark = pytest.mark.browser

TABLE = "kit_notes"


def test_two_signed_in_devices_edit_go_offline_and_converge(ducksync_server: Any,
                                                            ducksync_device: Any) -> None:
    server = ducksync_server(users=["alice", "bob"])
    a = ducksync_device(server, user="alice", path="/?sync=manual")
    b = ducksync_device(server, user="bob", path="/?sync=manual")
    assert a.page.evaluate("fetch('/api/v1/auth/me').then((r) => r.json())")["subject"] == "alice"
    assert a.status()["ready"] and a.status()["online"]
    a.exec(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, note VARCHAR, weight DOUBLE, "
           "seen TIMESTAMP, price DECIMAL(9, 2))")
    a.exec(f"INSERT INTO {TABLE} VALUES (1, 'planned', 0.1, '2024-02-29 12:34:56', 12.5), "
           "(2, 'planned', 1e300, NULL, -0.01), (3, NULL, NULL, '1999-12-31 23:59:59', 0)")
    assert a.sync(tables=[TABLE], direction="push")["pushed"] == 3
    assert b.sync(tables=[TABLE])["pulled"] == 3
    rows = assert_converged(server, a, b, table=TABLE)  # WASM and native render alike
    assert rows[0] == {"id": "1", "note": "planned", "weight": "0.1",
                       "seen": "2024-02-29 12:34:56", "price": "12.50"}

    with b.offline():
        assert not b.status()["online"]
        b.exec(f"UPDATE {TABLE} SET note = 'edited offline' WHERE id = 2")
        report = b.sync(tables=[TABLE])  # no network: the report says so, nothing is lost
        assert report["outcome"] == "error" and not report["converged"]
        assert report["error"]["code"] == "remote_unavailable"
    # back online: B's reconnect sync sends the offline edit by itself
    b.wait_for("db => db.status().sync.in_sync", timeout_ms=60_000)
    assert server.query(f"SELECT note FROM {TABLE} WHERE id = 2") == [{"note": "edited offline"}]
    with pytest.raises(AssertionError, match=re.escape(
            "A differs from the remote on 1 key:\n    id='2': remote {note: 'edited offline'}, "
            "A {note: 'planned'}")):
        assert_converged(server, a, b, table=TABLE)
    a.sync(tables=[TABLE])
    wait_until(lambda: assert_converged(server, a, b, table=TABLE), timeout=30)

    with a.expect_console_errors("kit: expected"):
        a.page.evaluate("console.error('kit: expected failure')")
    a.page.evaluate("console.error('kit: unexpected')")
    assert a.console_errors == ["kit: unexpected"]
    a.console_errors.clear()  # seen: the fixture would fail the test on it at teardown
    b.close()
