"""The sync panel of the demo page, driven as a user would: buttons, badge, lists, chart.

Two contexts are two devices of one server (this module's own). Automatic triggers are
off, so the only syncs are the ones clicked or asked for here; waits are on the page's own
state, never sleeps.
"""

from __future__ import annotations

from typing import Any

import pytest
from pageutil import ex, manual

pytestmark = pytest.mark.browser

MANUAL = "window.ducksync.configureSync({interval: 0, onWrite: false, policy: 'manual'})"


def device(open_app: Any, url: str) -> Any:
    page = open_app(manual(url))
    page.evaluate(MANUAL)
    return page


def test_sync_button_badge_tables_chart_and_conflict_resolution(open_app: Any,
                                                                 module_server: Any) -> None:
    a, b = device(open_app, module_server.url), device(open_app, module_server.url)
    ex(a, "CREATE TABLE ui_notes (id INTEGER PRIMARY KEY, body VARCHAR); "
          "INSERT INTO ui_notes VALUES (1, 'v0'), (2, 'v0'), (3, 'v0')")
    a.get_by_role("button", name="Sync now").click()
    a.wait_for_function("""() => {
        const badge = document.getElementById('status-sync');
        const row = document.querySelector('#sync-tables-body tr[data-table="ui_notes"]');
        return badge.dataset.phase === 'idle' && row && row.textContent.includes('synced')
            && document.querySelectorAll('#sync-chart rect.bar').length >= 1; }""",
        timeout=60_000)
    assert a.inner_text("#status-sync") == "sync: in sync"
    assert "Last synced at" in a.inner_text("#sync-detail")
    cells = a.locator('#sync-tables-body tr[data-table="ui_notes"] td').all_inner_texts()
    assert cells[0] == "3" and cells[1] == "id"
    assert a.get_by_role("button", name="Sync now").is_enabled()
    assert a.locator("#sync-progress").is_hidden() and a.locator("#sync-cancel").is_hidden()
    assert a.get_by_role("img").get_attribute("aria-label").startswith("1 recent syncs")
    # a keyless table no sync covers: the badge says so (was "in sync" alone)
    ex(a, "CREATE TABLE ui_scratch (v VARCHAR)")
    a.get_by_role("button", name="Sync now").click()
    a.wait_for_function("""() => document.getElementById('status-sync').textContent
        === 'sync: in sync · 1 table not synced'""", timeout=60_000)

    # the same row edited on both devices: b's sync surfaces a conflict in its view
    assert b.evaluate("window.ducksync.sync({tables: ['ui_notes']})")["pulled"] == 3
    ex(a, "UPDATE ui_notes SET body = 'from a' WHERE id = 2")
    ex(b, "UPDATE ui_notes SET body = 'from b' WHERE id = 2")
    assert a.evaluate("window.ducksync.sync({tables: ['ui_notes']})")["pushed"] == 1
    b.get_by_role("button", name="Sync now").click()
    item = b.locator('#conflict-list li.conflict[data-table="ui_notes"][data-key="2"]')
    item.wait_for(timeout=60_000)
    b.wait_for_function("document.getElementById('status-sync').dataset.phase === 'conflict'")
    assert "from b" in item.locator("dd.local").inner_text()
    assert "from a" in item.locator("dd.remote").inner_text()
    assert b.is_visible("#conflicts") and b.inner_text("#conflicts-count") == "1"
    b.get_by_role("button", name="Take the server's version of ui_notes key 2").click()
    item.wait_for(state="detached", timeout=30_000)
    b.wait_for_function("document.getElementById('conflicts').hidden")
    body = b.evaluate("window.ducksync.query('SELECT body FROM ui_notes WHERE id = 2')")
    assert body == [{"body": "from a"}]
