"""Sync in the browser: two contexts = two devices syncing through the real server.

Each device is its own browser context (own OPFS database, own workers). Automatic
triggers are switched off per page (``configureSync``) so every sync here is the one
the test asks for; waits are on the app's own events and conditions, never sleeps.
"""

from __future__ import annotations

from typing import Any

import httpx
import pyarrow as pa
import pytest

pytestmark = pytest.mark.browser

MANUAL = "window.ducksync.configureSync({interval: 0, onWrite: false})"


def device(open_app: Any, url: str) -> Any:
    page = open_app(url)
    page.evaluate(MANUAL)
    page.evaluate("""() => { window.__phases = []; window.__progress = [];
        window.ducksync.on('sync', (s) => window.__phases.push(s.phase));
        window.ducksync.on('progress', (p) => window.__progress.push(p)); }""")
    return page


def q(page: Any, sql: str) -> Any:
    return page.evaluate("(sql) => window.ducksync.query(sql)", sql)


def ex(page: Any, sql: str) -> None:
    page.evaluate("(sql) => window.ducksync.exec(sql)", sql)


def sync(page: Any, **options: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate("(o) => window.ducksync.sync(o)", options)
    return result


def remote_keys(server: Any, table: str, key: str = "id") -> list[int]:
    """The remote's keys of ``table``, read through the server's sync API (it holds the file)."""
    response = httpx.post(f"{server.url}/api/v1/sync/tables/{table}/hashes",
                          json={"key": [key], "modulus": 1, "buckets": []}, timeout=60)
    response.raise_for_status()
    return sorted(pa.ipc.open_stream(response.content).read_all().column(key).to_pylist())


def test_two_devices_converge_through_the_server(open_app: Any, server: Any) -> None:
    a, b = device(open_app, server.url), device(open_app, server.url)
    ex(a, "CREATE TABLE birds (id INTEGER PRIMARY KEY, name VARCHAR, weight DOUBLE, "
          "seen TIMESTAMP, big UBIGINT)")
    ex(a, "INSERT INTO birds SELECT range, 'bird ' || range, range / 3, "
          "TIMESTAMP '2024-01-01' + INTERVAL (range) MINUTE, 18446744073709551615 - range "
          "FROM range(1000)")
    first = sync(a, tables=["birds"], direction="push")
    assert first["pushed"] == 1000 and first["outcome"] == "ok", first["error"]
    assert first["bytes"] > 0
    assert set(first) >= {"pushed", "pulled", "conflicts", "bytes", "ms"}
    pulled = sync(b, tables=["birds"], direction="pull")
    assert pulled["pulled"] == 1000 and pulled["converged"]
    # both edit different rows, then sync both ways
    ex(b, "UPDATE birds SET name = 'renamed' WHERE id < 10")
    ex(b, "DELETE FROM birds WHERE id >= 990")
    ex(a, "INSERT INTO birds VALUES (5000, 'new', 1.5, NULL, 7)")
    assert sync(b)["pushed"] == 20
    assert sync(a)["pulled"] == 20
    assert sync(b)["pulled"] == 1
    order = "SELECT * FROM birds ORDER BY id"
    rows_a, rows_b = q(a, order), q(b, order)
    assert rows_a == rows_b and len(rows_a) == 991
    assert remote_keys(server, "birds") == [r["id"] for r in rows_a]
    assert "syncing" in a.evaluate("window.__phases") and a.evaluate(
        "window.ducksync.status().sync.phase") == "idle"
    log = a.evaluate("window.ducksync.syncLog()")
    assert [r["outcome"] for r in log] == ["ok", "ok"] and log[-1]["rows_pushed"] == 1000
    assert q(a, "SELECT count(*) AS n FROM ducksync.sync_log") == [{"n": 2}]
