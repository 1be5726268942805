"""Background sync and an honest status, in the page as a user sees it.

A new device (a fresh browser context) opened against a server that already holds data
shows it without any click; the badge says "in sync" only after a sync proved it, counts
the changes made offline, and a follower tab shows the owner's state. Every conflict
kind is shown and resolved from the page. Waits are on the page's own state, never sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pageutil import ex, forward_console, manual, q, sync, wait_ready

from serverutil import RunningServer, running_server

pytestmark = pytest.mark.browser

BOOKS, AUTHORS = 2000, 30
# Record the client's events from its creation (index.html makes it before the UI boots).
RECORD = """(() => { let client;
  Object.defineProperty(window, "ducksyncClient", { configurable: true, get: () => client,
    set: (c) => { client = c; window.__progress = []; window.__phases = [];
      c.on("progress", (p) => window.__progress.push(p));
      c.on("sync", (s) => window.__phases.push(s.phase)); } }); })()"""
ROW = "#sync-tables-body tr[data-table='{}']"
BADGE = "() => document.getElementById('status-sync').textContent"


@pytest.fixture(scope="module")
def filled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real server whose remote already holds two keyed tables (no device synced yet)."""
    import duckdb

    tmp: Path = tmp_path_factory.mktemp("filled")
    with duckdb.connect(str(tmp / "remote.duckdb")) as con:
        con.execute("CREATE TABLE shelf_books (id INTEGER PRIMARY KEY, title VARCHAR)")
        con.execute(f"INSERT INTO shelf_books SELECT range, 'book ' || range "
                    f"FROM range({BOOKS})")
        con.execute("CREATE TABLE shelf_authors (id INTEGER PRIMARY KEY, name VARCHAR)")
        con.execute(f"INSERT INTO shelf_authors SELECT range, 'author ' || range "
                    f"FROM range({AUTHORS})")
    with running_server(tmp) as running:
        yield running


def open_device(browser: Any, url: str) -> Any:
    context = browser.new_context()
    context.add_init_script(RECORD)
    page = context.new_page()
    forward_console(page)
    page.goto(url)
    return wait_ready(page)


def rows_shown(page: Any, table: str) -> str:
    return str(page.locator(ROW.format(table) + " td.num").inner_text())


def test_a_new_device_shows_the_servers_data_without_any_click(
        browser: Any, filled_server: RunningServer) -> None:
    page = open_device(browser, filled_server.url)
    try:
        # No click, no call: the page syncs by itself as soon as the remote answers.
        page.wait_for_function(
            """([books, authors]) => {
                const cell = (t) => document.querySelector(
                    `#sync-tables-body tr[data-table='${t}'] td.num`)?.textContent;
                return cell('shelf_books') === books && cell('shelf_authors') === authors
                    && document.getElementById('status-sync').dataset.phase === 'idle'; }""",
            arg=[str(BOOKS), str(AUTHORS)], timeout=90_000)
        assert page.evaluate(BADGE) == "sync: in sync"
        assert q(page, "SELECT count(*) AS n FROM shelf_books") == [{"n": BOOKS}]
        log = page.evaluate("window.ducksync.syncLog()")
        assert log[-1]["trigger"] == "start" and log[-1]["rows_pulled"] == BOOKS + AUTHORS
        progress = page.evaluate("window.__progress")
        assert {p["table"] for p in progress} >= {"shelf_books", "shelf_authors"}
        assert max(p["rows_done"] for p in progress if p["table"] == "shelf_books") == BOOKS
        assert page.evaluate("window.__phases")[0] != "idle"  # never "in sync" before a sync
        status = page.evaluate("window.ducksync.status().sync")
        assert status["in_sync"] and status["unsent"] == 0 and status["last_outcome"] == "ok"
        # "Last synced at" in the user's local time: the browser's own rendering of the stamp
        expected = page.evaluate("""() => new Date(Date.parse(window.ducksync.status().sync
            .last_sync.replace(' ', 'T').slice(0, 19) + 'Z')).toLocaleTimeString()""")
        assert f"Last synced at {expected} (" in page.inner_text("#sync-detail")

        # A second tab of the same device follows the owner and shows its state.
        follower = page.context.new_page()
        forward_console(follower)
        follower.goto(filled_server.url)
        wait_ready(follower)
        assert follower.evaluate("window.ducksync.status().tab.role") == "follower"
        follower.wait_for_function(f"({BADGE})() === 'sync: in sync'", timeout=30_000)
        assert "Last synced at" in follower.inner_text("#sync-detail")
        assert "Never synced" not in follower.inner_text("#sync-detail")
    finally:
        page.context.close()


def test_offline_edits_are_counted_then_sent_by_themselves(
        browser: Any, filled_server: RunningServer) -> None:
    page = open_device(browser, filled_server.url)
    context = page.context
    try:
        page.wait_for_function("window.ducksync.status().sync.in_sync", timeout=90_000)
        context.set_offline(True)
        # shown on the tab's 'offline' event: the periodic probe is 30 s apart
        # (remote_worker.RECHECK_CONNECTED_S), and the workers do not hear an emulated
        # network's events themselves
        page.wait_for_function("window.ducksync.status().sync.phase === 'offline'",
                               timeout=10_000)
        ex(page, "UPDATE shelf_books SET title = 'offline' WHERE id IN (1, 2)")
        ex(page, "INSERT INTO shelf_authors VALUES (1000, 'offline')")
        assert not page.evaluate("window.ducksync.status().sync.in_sync")
        # counted once the burst settles (no sync can run): per table in the list too
        page.wait_for_function("window.ducksync.status().sync.unsent === 3", timeout=30_000)
        page.wait_for_function(
            "document.querySelector(\"" + ROW.format("shelf_books") +
            "\")?.textContent.includes('2 changes not sent')", timeout=30_000)
        assert "1 change not sent" in page.locator(ROW.format("shelf_authors")).inner_text()
        assert page.evaluate(BADGE) == "sync: offline, 3 changes not sent"
        assert "3 changes made here not sent yet" in page.inner_text("#sync-detail")
        context.set_offline(False)  # back: the reconnect sends them without a click
        # (the badge, not one status read: another short sync may start right after the
        # push, and a read between the two saw "syncing"; docs/change-feed.md)
        page.wait_for_function(f"({BADGE})() === 'sync: in sync'", timeout=60_000)
        assert page.evaluate("window.ducksync.status().sync.unsent") == 0
        pushed = [r for r in page.evaluate("window.ducksync.syncLog()")
                  if r["outcome"] == "ok" and r["rows_pushed"]]
        assert pushed and pushed[0]["rows_pushed"] == 3 and pushed[0]["trigger"] != "manual"
    finally:
        context.close()


KINDS = {"1": "update/update", "2": "update/delete", "3": "delete/update", "9": "insert/insert"}


def test_every_conflict_kind_is_shown_and_resolved_from_the_page(
        open_app: Any, module_server: RunningServer) -> None:
    a, b = open_app(manual(module_server.url)), open_app(manual(module_server.url))
    ex(a, "CREATE TABLE kinds (id INTEGER PRIMARY KEY, body VARCHAR); "
          "INSERT INTO kinds SELECT range, 'v0' FROM range(4)")
    sync(a, tables=["kinds"])
    sync(b, tables=["kinds"])
    ex(a, "UPDATE kinds SET body = 'a' WHERE id IN (1, 3); DELETE FROM kinds WHERE id = 2; "
          "INSERT INTO kinds VALUES (9, 'a')")
    ex(b, "UPDATE kinds SET body = 'b' WHERE id IN (1, 2); DELETE FROM kinds WHERE id = 3; "
          "INSERT INTO kinds VALUES (9, 'b')")
    sync(a, tables=["kinds"])
    b.get_by_role("button", name="Sync now").click()
    b.wait_for_function("document.querySelectorAll('#conflict-list li.conflict').length === 4",
                        timeout=60_000)
    assert b.inner_text("#conflicts-count") == "4"
    for key, kind in KINDS.items():
        item = b.locator(f'#conflict-list li.conflict[data-key="{key}"]')
        assert item.get_attribute("data-kind") == kind
        local, remote = item.locator("dd.local").inner_text(), \
            item.locator("dd.remote").inner_text()
        assert ("(deleted)" in local) == (kind == "delete/update")
        assert ("(deleted)" in remote) == (kind == "update/delete")
    # b keeps its own 1 and 2 (an edit the server deleted), takes the server's 3 and 9
    for key, who in (("1", "Keep this device's version"), ("2", "Keep this device's version"),
                     ("3", "Take the server's version"), ("9", "Take the server's version")):
        b.get_by_role("button", name=f"{who} of kinds key {key}").click()
        b.locator(f'#conflict-list li.conflict[data-key="{key}"]').wait_for(
            state="detached", timeout=30_000)
    b.wait_for_function("document.getElementById('conflicts').hidden")
    assert sync(b, tables=["kinds"])["converged"]
    sync(a, tables=["kinds"])
    rows = "SELECT id, body FROM kinds ORDER BY id"
    assert q(a, rows) == q(b, rows) == [{"id": 0, "body": "v0"}, {"id": 1, "body": "b"},
                                         {"id": 2, "body": "b"}, {"id": 3, "body": "a"},
                                         {"id": 9, "body": "a"}]
