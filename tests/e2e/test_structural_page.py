"""Structural changes in the page (issue 14): a local DROP TABLE or DELETE of every row
never empties the server; the page's calls restore or confirm explicitly (web/sync.js:
``sync({allowMassDelete})``, ``redownload``, ``dropEverywhere``). Engine rules:
docs/engine.md, "Schema"; engine tests: tests/engine/test_structural.py."""

from __future__ import annotations

from typing import Any

import httpx
import pyarrow as pa
import pytest
from pageutil import ex, manual, q, sync

pytestmark = pytest.mark.browser


def device(open_app: Any, url: str) -> Any:
    """A page whose syncs are only the ones the test asks for (no sync at start either:
    the shared server holds other tests' tables)."""
    return open_app(manual(url))


def remote_keys(server: Any, table: str) -> list[int]:
    """The server's keys of ``table``, read through its sync API."""
    response = httpx.post(f"{server.url}/api/v1/sync/tables/{table}/hashes",
                          json={"key": ["id"], "modulus": 1, "buckets": []}, timeout=60)
    response.raise_for_status()
    return sorted(pa.ipc.open_stream(response.content).read_all().column("id").to_pylist())


def test_drop_and_mass_delete_keep_the_server_copy_until_confirmed(open_app: Any,
                                                                    server: Any) -> None:
    a = device(open_app, server.url)
    ex(a, "CREATE TABLE dev_drop (id INTEGER PRIMARY KEY, v VARCHAR)")
    ex(a, "INSERT INTO dev_drop SELECT range, 'v' || range FROM range(1500)")
    assert sync(a, tables=["dev_drop"])["converged"]
    ex(a, "DELETE FROM dev_drop WHERE id >= 100")
    guarded = sync(a, tables=["dev_drop"])
    assert guarded["outcome"] == "error" and guarded["error"]["code"] == "mass_delete"
    assert guarded["tables"][0]["mass_delete"] == {"side": "remote", "rows": 1400, "of": 1500}
    assert len(remote_keys(server, "dev_drop")) == 1500
    ex(a, "DROP TABLE dev_drop")
    stopped = sync(a, tables=["dev_drop"])
    assert stopped["tables"][0]["dropped_on"] == "local" and stopped["pushed"] == 0
    assert "redownload" in stopped["error"]["hint"]
    assert len(remote_keys(server, "dev_drop")) == 1500
    back = a.evaluate("window.ducksync.redownload('dev_drop')")
    assert back["converged"] and back["pulled"] == 1500
    assert q(a, "SELECT count(*) AS n FROM dev_drop") == [{"n": 1500}]
    ex(a, "DELETE FROM dev_drop WHERE id >= 100")
    allowed = a.evaluate("window.ducksync.sync({tables: ['dev_drop'], allowMassDelete: true})")
    assert allowed["converged"] and allowed["pushed"] == 1400
    assert remote_keys(server, "dev_drop") == list(range(100))
    gone = a.evaluate("window.ducksync.dropEverywhere('dev_drop')")
    assert gone == {"table": "dev_drop", "local": True, "remote": True}
    described = httpx.get(f"{server.url}/api/v1/sync/tables/dev_drop", timeout=60).json()
    assert described == {"table": None}


def test_the_page_shows_a_stopped_table_and_its_way_out(open_app: Any, server: Any) -> None:
    """The sync panel lists what a structural stop held and offers the explicit calls:
    a mass delete is confirmed by a click (and a yes), a table dropped here comes back
    with "Download it again"."""
    a = device(open_app, server.url)
    ex(a, "CREATE TABLE ui_stop (id INTEGER PRIMARY KEY, v VARCHAR)")
    ex(a, "INSERT INTO ui_stop SELECT range, 'v' FROM range(1200)")
    assert sync(a, tables=["ui_stop"])["converged"]
    ex(a, "DELETE FROM ui_stop")
    assert sync(a, tables=["ui_stop"])["error"]["code"] == "mass_delete"
    item = a.locator('#stopped-list li[data-table="ui_stop"]')
    item.wait_for(timeout=30_000)
    assert "would delete 1200 of its 1200 rows on the server" in item.inner_text()
    # the tables list says so too, not "synced" after the sync before (was: "synced 1 s ago")
    a.wait_for_function("""() => document.querySelector(
        '#sync-tables-body tr[data-table="ui_stop"]')?.textContent.includes('last sync failed')""",
        timeout=30_000)
    a.once("dialog", lambda dialog: dialog.accept())
    item.get_by_role("button", name="Delete them").click()
    a.wait_for_function("() => !document.querySelector('#stopped-list li')", timeout=60_000)
    assert remote_keys(server, "ui_stop") == []
    ex(a, "INSERT INTO ui_stop SELECT range, 'w' FROM range(10)")
    assert sync(a, tables=["ui_stop"])["converged"]
    ex(a, "DROP TABLE ui_stop")
    assert sync(a, tables=["ui_stop"])["tables"][0]["dropped_on"] == "local"
    item.wait_for(timeout=30_000)
    assert "was dropped on this device" in item.inner_text()
    # what to do is the page's own way out, not the engine's CLI command (was "ducksync pull")
    detail = a.inner_text("#sync-detail")
    assert "under Stopped tables" in detail and "ducksync pull" not in detail, detail
    item.get_by_role("button", name="Download it again").click()
    a.wait_for_function("() => !document.querySelector('#stopped-list li')", timeout=60_000)
    assert q(a, "SELECT count(*) AS n FROM ui_stop") == [{"n": 10}]
