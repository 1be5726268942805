"""The kit's device in real Chromium: a signed-in device edits, goes offline, comes back.

One server and one device (a browser context booting the real page) carry the device
methods, ``user=`` sign-in, ``offline()``, ``assert_converged`` on values rendered by
DuckDB-WASM against native DuckDB (both ways: equal, and a real difference),
``wait_until`` and the console-error expectations. Two devices converging are in
tests/e2e/test_example_with_kit.py and tests/e2e/test_reconnect.py (both written with the
kit), and in ``make kit-check``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from ducksync.testing import assert_converged, wait_until

pytestmark = pytest.mark.browser

TABLE = "kit_notes"


def test_a_signed_in_device_edits_goes_offline_and_converges(ducksync_server: Any,
                                                             ducksync_device: Any) -> None:
    server = ducksync_server(users=["alice"])
    a = ducksync_device(server, user="alice", path="/?sync=manual")
    assert a.page.evaluate("fetch('/api/v1/auth/me').then((r) => r.json())")["subject"] == "alice"
    assert a.status()["ready"] and a.status()["online"]
    a.exec(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, note VARCHAR, weight DOUBLE, "
           "seen TIMESTAMP, price DECIMAL(9, 2))")
    a.exec(f"INSERT INTO {TABLE} VALUES (1, 'planned', 0.1, '2024-02-29 12:34:56', 12.5), "
           "(2, 'planned', 1e300, NULL, -0.01), (3, NULL, NULL, '1999-12-31 23:59:59', 0)")
    assert a.sync(tables=[TABLE], direction="push")["pushed"] == 3
    rows = assert_converged(server, a, table=TABLE)  # WASM and native render alike
    assert rows[0] == {"id": "1", "note": "planned", "weight": "0.1",
                       "seen": "2024-02-29 12:34:56", "price": "12.50"}

    with a.offline():
        assert not a.status()["online"]
        a.exec(f"UPDATE {TABLE} SET note = 'edited offline' WHERE id = 2")
        report = a.sync(tables=[TABLE])  # no network: the report says so, nothing is lost
        assert report["outcome"] == "error" and not report["converged"]
        assert report["error"]["code"] == "remote_unavailable"
        with pytest.raises(AssertionError, match=re.escape(
                "A differs from the remote on 1 key:\n    id='2': remote {note: 'planned'}, "
                "A {note: 'edited offline'}")):
            assert_converged(server, a, table=TABLE)
    # back online: the reconnect sync sends the offline edit by itself
    wait_until(lambda: assert_converged(server, a, table=TABLE), timeout=60)
    assert a.status()["sync"]["in_sync"] or a.wait_for("db => db.status().sync.in_sync")

    with a.expect_console_errors("kit: expected"):
        a.page.evaluate("console.error('kit: expected failure')")
    a.page.evaluate("console.error('kit: unexpected')")
    assert a.console_errors == ["kit: unexpected"]
    a.console_errors.clear()  # seen: the fixture would fail the test on it at teardown
    a.close()
