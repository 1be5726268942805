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
from pageutil import ex, manual, q, sync

pytestmark = pytest.mark.browser

MANUAL = "window.ducksync.configureSync({interval: 0, onWrite: false})"


@pytest.fixture(scope="module")
def server(module_server: Any) -> Any:
    """This module's own remote: pages of later modules sync at start and would otherwise
    pull its tables (200k rows) from the session's server."""
    return module_server


def device(open_app: Any, url: str) -> Any:
    page = open_app(manual(url))
    page.evaluate(MANUAL)
    page.evaluate("""() => { window.__phases = []; window.__progress = [];
        window.ducksync.on('sync', (s) => window.__phases.push(s.phase));
        window.ducksync.on('progress', (p) => window.__progress.push(p)); }""")
    return page


def remote_keys(server: Any, table: str, key: str = "id") -> list[int]:
    """The remote's keys of ``table``, read through the server's sync API (it holds the file)."""
    response = httpx.post(f"{server.url}/api/v1/sync/tables/{table}/hashes",
                          json={"key": [key], "modulus": 1, "buckets": []}, timeout=60)
    response.raise_for_status()
    return sorted(pa.ipc.open_stream(response.content).read_all().column(key).to_pylist())


def test_two_devices_converge_through_the_server(open_app: Any, server: Any) -> None:
    a, b = device(open_app, server.url), device(open_app, server.url)
    ex(a, "CREATE TABLE dev_birds (id INTEGER PRIMARY KEY, name VARCHAR, weight DOUBLE, "
          "seen TIMESTAMP, big UBIGINT)")
    ex(a, "INSERT INTO dev_birds SELECT range, 'bird ' || range, range / 3, "
          "TIMESTAMP '2024-01-01' + INTERVAL (range) MINUTE, 18446744073709551615 - range "
          "FROM range(1000)")
    first = sync(a, tables=["dev_birds"], direction="push")
    assert first["pushed"] == 1000 and first["outcome"] == "ok", first["error"]
    assert first["bytes"] > 0
    assert set(first) >= {"pushed", "pulled", "conflicts", "bytes", "ms"}
    pulled = sync(b, tables=["dev_birds"], direction="pull")
    assert pulled["pulled"] == 1000 and pulled["converged"]
    # both edit different rows, then sync both ways
    ex(b, "UPDATE dev_birds SET name = 'renamed' WHERE id < 10")
    ex(b, "DELETE FROM dev_birds WHERE id >= 990")
    ex(a, "INSERT INTO dev_birds VALUES (5000, 'new', 1.5, NULL, 7)")
    # Name the table: the session's remote also holds other tests' tables.
    assert sync(b, tables=["dev_birds"])["pushed"] == 20
    assert sync(a, tables=["dev_birds"])["pulled"] == 20
    assert sync(b, tables=["dev_birds"])["pulled"] == 1
    order = "SELECT * FROM dev_birds ORDER BY id"
    rows_a, rows_b = q(a, order), q(b, order)
    assert rows_a == rows_b and len(rows_a) == 991
    assert remote_keys(server, "dev_birds") == [r["id"] for r in rows_a]
    # a sync of named tables proves nothing about the remote's other tables: not "in sync"
    assert "syncing" in a.evaluate("window.__phases") and a.evaluate(
        "window.ducksync.status().sync.phase") == "pending"
    log = a.evaluate("window.ducksync.syncLog()")
    assert [r["outcome"] for r in log] == ["ok", "ok"] and log[-1]["rows_pushed"] == 1000
    assert q(a, "SELECT count(*) AS n FROM ducksync.sync_log") == [{"n": 2}]


def test_conflicts_surface_under_manual_and_resolve_under_each_policy(open_app: Any,
                                                                       server: Any) -> None:
    a, b = device(open_app, server.url), device(open_app, server.url)
    ex(a, "CREATE TABLE dev_notes (id INTEGER PRIMARY KEY, body VARCHAR)")
    ex(a, "INSERT INTO dev_notes SELECT range, 'v0' FROM range(5)")
    sync(a, tables=["dev_notes"])
    sync(b, tables=["dev_notes"])
    for row in (1, 2, 3):
        ex(a, f"UPDATE dev_notes SET body = 'from a' WHERE id = {row}")
        ex(b, f"UPDATE dev_notes SET body = 'from b' WHERE id = {row}")
    assert sync(a, tables=["dev_notes"])["pushed"] == 3
    b.evaluate("() => { window.__conflicts = []; "
               "window.ducksync.on('conflict', (c) => window.__conflicts.push(c)); }")
    manual = sync(b, tables=["dev_notes"], policy="manual")
    assert manual["pending_conflicts"] == 3
    b.wait_for_function("window.__conflicts.length > 0")
    assert b.evaluate("window.ducksync.status().sync.phase") == "conflict"
    listed = b.evaluate("window.ducksync.conflicts('dev_notes')")
    assert [c["key"] for c in listed] == ["1", "2", "3"]
    assert "from a" in listed[0]["remote"] and "from b" in listed[0]["local"]
    # per row: take local for 1, take remote for 2; row 3 goes to the policies below
    b.evaluate("window.ducksync.resolveConflict('dev_notes', '1', 'local')")
    b.evaluate("window.ducksync.resolveConflict('dev_notes', '2', 'remote')")
    assert sync(b, tables=["dev_notes"], policy="remote-wins")["outcome"] == "ok"
    # conflicts settled; a sync of named tables proves only those: not called "in sync"
    settled = b.evaluate("window.ducksync.status().sync")
    assert settled["phase"] == "pending" and settled["pending_conflicts"] == 0
    sync(a, tables=["dev_notes"])
    expected = {0: "v0", 1: "from b", 2: "from a", 3: "from a", 4: "v0"}
    for page in (a, b):
        assert {r["id"]: r["body"] for r in q(page, "SELECT * FROM dev_notes")} == expected
    # local-wins: b's edit overrides a's
    ex(a, "UPDATE dev_notes SET body = 'a again' WHERE id = 4")
    ex(b, "UPDATE dev_notes SET body = 'b again' WHERE id = 4")
    sync(a, tables=["dev_notes"])
    assert sync(b, tables=["dev_notes"], policy="local-wins")["conflicts"] == 1
    sync(a, tables=["dev_notes"])
    assert q(a, "SELECT body FROM dev_notes WHERE id = 4") == [{"body": "b again"}]
    everything = "SELECT * FROM dev_notes ORDER BY id"
    assert q(a, everything) == q(b, everything)


def test_tab_closed_mid_sync_then_next_session_converges(open_app: Any, server: Any) -> None:
    page = device(open_app, server.url)
    n = 200_000
    ex(page, "CREATE TABLE big (id BIGINT PRIMARY KEY, v VARCHAR, x DOUBLE)")
    ex(page, f"INSERT INTO big SELECT range, 'row ' || range, range * 0.5 FROM range({n})")
    page.evaluate("() => { window.__run = window.ducksync.sync({tables: ['big'], "
                  "direction: 'push', batchRows: 5000}).catch((e) => e.message); }")
    page.wait_for_function("window.__progress.some((p) => p.rows_done >= 20000)",
                           timeout=60_000)
    done = page.evaluate("Math.max(...window.__progress.map((p) => p.rows_done))")
    assert done < n  # really in the middle
    context = page.context
    page.close()  # the tab goes away mid-sync: workers die, OPFS keeps what was committed
    again = context.new_page()
    again.goto(manual(server.url))
    again.wait_for_function("() => window.ducksync && document.body.dataset.ready === 'true'",
                            timeout=90_000)
    again.evaluate(MANUAL)
    result = sync(again, tables=["big"], batchRows=50_000)
    assert result["converged"], result["error"]
    keys = remote_keys(server, "big")
    assert len(keys) == n and keys == list(range(n))  # nothing lost, nothing twice
    assert q(again, "SELECT count(*) AS n FROM big") == [{"n": n}]
    again_result = sync(again, tables=["big"])
    assert again_result["pushed"] == 0 and again_result["pulled"] == 0


SKIP = "local-unchanged-since-sync"


def paths(report: dict[str, Any]) -> list[str]:
    return list(report["tables"][0]["paths"])


def test_idle_sync_skips_hashing_yet_sees_every_kind_of_local_write(open_app: Any,
                                                                     server: Any) -> None:
    """The local worker counts every write the engine did not make (docs/engine.md): an
    idle sync skips hashing the table, and page SQL, an import or a resolved conflict
    each make the next sync compare again."""
    a = device(open_app, server.url)
    ex(a, "CREATE TABLE dev_idle (id INTEGER PRIMARY KEY, v VARCHAR)")
    ex(a, "INSERT INTO dev_idle SELECT range, 'v' FROM range(100)")
    assert sync(a, tables=["dev_idle"])["pushed"] == 100
    idle = sync(a, tables=["dev_idle"])
    assert SKIP in paths(idle) and idle["pushed"] == idle["pulled"] == 0 and idle["converged"]
    assert q(a, "SELECT count(*) AS n FROM dev_idle") == [{"n": 100}]  # a read is no write
    assert SKIP in paths(sync(a, tables=["dev_idle"]))

    ex(a, "UPDATE dev_idle SET v = 'page' WHERE id = 1")
    after_page = sync(a, tables=["dev_idle"])
    assert SKIP not in paths(after_page) and after_page["pushed"] == 1
    assert SKIP in paths(sync(a, tables=["dev_idle"]))

    imported = a.evaluate("""async () => {
        const blob = await window.ducksync.export({format: 'sql', tables: ['dev_idle']});
        const text = (await blob.text()).replaceAll("'v'", "'imported'");
        return window.ducksync.import(new Blob([text]), {replace: true}); }""")
    assert imported["rows"] == 100
    after_import = sync(a, tables=["dev_idle"])
    assert SKIP not in paths(after_import) and after_import["pushed"] == 99
    assert remote_keys(server, "dev_idle") == list(range(100))
