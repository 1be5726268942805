"""What the page shows right after another device's change arrives by itself (the change
feed) or after a write here: every panel that shows a count agrees, at every moment.

Two browser contexts (two devices) on one real server. B syncs by itself (the feed, no
interval); A writes and syncs when the test says. A MutationObserver on B records, at
every change of the page, the row counts each panel shows: the Tables panel, the
schema browser's "On this device", and the two lists of the server's tables. The
device's panels must never disagree with each other, nor the server's. Then what a new
user meets: a new device's first sync (what the lists and the progress say while the
server's tables arrive), a table unticked with its copy kept and held again, and the
server's tables while offline. The waits are on the page's own state, never sleeps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pageutil import ex, forward_console, manual, open_in_new_context, screenshot, sync, wait_ready

from serverutil import start_server

pytestmark = pytest.mark.browser

WAIT_MS = 30_000  # a bound, not a speed target
LIVE = ("() => window.ducksync.status().sync.feed?.state === 'live' "
        "&& window.ducksync.status().sync.in_sync")
# Each panel's count of one table as the page shows it (null: not listed).
COUNTS = """(table) => {
    const text = (sel) => document.querySelector(sel)?.textContent ?? null;
    const row = '[data-table="' + table + '"]';
    return {tables: text('#sync-tables-body tr' + row + ' td.num'),
            schema: document.querySelector('#schema-local details' + row)?.dataset.rows ?? null,
            server: text('#schema-remote tr' + row + ' td.num'),
            hold: text('#remote-tables-body tr' + row + ' td.num')};
}"""
# Every change of the page (one callback per task that changed the DOM) is recorded.
WATCH = ("(table) => { const counts = " + COUNTS + """;
    window.__seen = [counts(table)];
    new MutationObserver(() => window.__seen.push(counts(table))).observe(
        document.body, {subtree: true, childList: true, characterData: true, attributes: true});
}""")
SHOWS = "([table, n]) => (" + COUNTS + ")(table).schema === String(n)"
ALL_SHOW = ("([table, n]) => Object.values((" + COUNTS +
            ")(table)).every((v) => v === String(n))")

def disagreements(seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The moments the device's two panels, or the server's two lists, showed different
    counts of the table (a panel not drawn yet, ``None``, is not a count)."""
    return [s for s in seen if s["tables"] != s["schema"] or s["server"] != s["hold"]]


def test_after_a_live_pull_and_a_local_write_every_panel_shows_the_same_count(
        browser: Any, tmp_path: Path) -> None:
    server = start_server(tmp_path)
    a = open_in_new_context(browser, manual(server.url))
    b = open_in_new_context(browser, server.url)
    try:
        b.evaluate("window.ducksync.configureSync({interval: 0, onWrite: false})")
        b.wait_for_function(LIVE, timeout=WAIT_MS)
        ex(a, "CREATE TABLE live_notes (id INTEGER PRIMARY KEY, body VARCHAR); "
              "INSERT INTO live_notes VALUES (1, 'one')")
        assert sync(a)["pushed"] == 1
        b.wait_for_function(ALL_SHOW, arg=["live_notes", 1], timeout=WAIT_MS)

        b.evaluate(WATCH, "live_notes")
        ex(a, "INSERT INTO live_notes VALUES (2, 'two'), (3, 'three')")
        assert sync(a)["pushed"] == 2
        # the moment the schema browser first shows the pulled rows, the Tables panel
        # shows them too (it lagged the schema browser by a few hundred ms)
        b.wait_for_function(SHOWS, arg=["live_notes", 3], timeout=WAIT_MS)
        first = next(s for s in b.evaluate("window.__seen") if s["schema"] == "3")
        assert first["tables"] == "3", first
        b.wait_for_function(ALL_SHOW, arg=["live_notes", 3], timeout=WAIT_MS)

        # a write on B itself: the same, with no sync in between (B sends it when asked)
        ex(b, "INSERT INTO live_notes VALUES (4, 'from B')")
        b.wait_for_function(SHOWS, arg=["live_notes", 4], timeout=WAIT_MS)
        first = next(s for s in b.evaluate("window.__seen") if s["schema"] == "4")
        assert first["tables"] == "4", first
        assert disagreements(b.evaluate("window.__seen")) == []
    finally:
        for device in (a, b):
            device.context.close()
        server.stop()


# From the page's first paint: the sync badge's phase and what each part of the sync
# panel says, at every change of the page.
RECORD_FROM_START = """document.addEventListener('DOMContentLoaded', () => {
    const text = (id) => document.getElementById(id)?.textContent ?? '';
    const look = () => ({phase: document.getElementById('status-sync').dataset.phase,
                         tables: text('sync-tables-body'), local: text('schema-local'),
                         detail: text('sync-detail'),
                         progress: document.getElementById('sync-progress').hidden
                             ? '' : text('sync-progress-label')});
    window.__seen = [look()];
    new MutationObserver(() => window.__seen.push(look())).observe(
        document.body, {subtree: true, childList: true, characterData: true, attributes: true});
});"""
BOXES = """() => { window.__boxes = [];
    new MutationObserver(() => window.__boxes.push(document.querySelector(
        '#remote-tables-body input[data-table="big"]')?.checked ?? null)).observe(
        document.body, {subtree: true, childList: true, characterData: true, attributes: true});
}"""
BIG = 60_000
NOT_HELD = "not synced (this device does not hold it)"
STATE = """(table) => [document.querySelector('#sync-tables-body tr[data-table="' + table +
    '"] td:last-child')?.textContent, document.querySelector('#schema-local details' +
    '[data-table="' + table + '"] .schema-sync')?.textContent]"""


def open_recorded(browser: Any, url: str, record: str) -> tuple[Any, Any]:
    """A new device (a fresh context) whose page runs ``record`` before its own scripts,
    opened at ``url`` and waited for until its first sync is over and its feed is live."""
    context = browser.new_context()
    context.add_init_script(record)
    page = context.new_page()
    forward_console(page)
    try:
        page.goto(url)
        wait_ready(page)
        page.wait_for_function(LIVE, timeout=60_000)
    except BaseException:
        context.close()
        raise
    return context, page


def test_a_new_device_a_kept_copy_and_offline_say_what_is_true(
        browser: Any, tmp_path: Path) -> None:
    import duckdb

    with duckdb.connect(str(tmp_path / "remote.duckdb")) as con:
        con.execute("CREATE TABLE big AS SELECT range::BIGINT AS id, 'row ' || range AS name "
                    f"FROM range({BIG})")
        con.execute("ALTER TABLE big ADD PRIMARY KEY (id)")
    server = start_server(tmp_path)
    context, b = open_recorded(browser, server.url, RECORD_FROM_START)
    try:
        seen = b.evaluate("window.__seen")
        syncing = [s for s in seen if s["phase"] == "syncing"]
        assert syncing, "the first sync was recorded"
        # while the server's tables arrive, the lists do not tell a new user to make one
        assert not [s for s in syncing if "create one" in s["tables"] + s["local"]], syncing
        # the detail names the table being synced (it said "syncing …", no name)
        details = {s["detail"].split(" Live:")[0] for s in syncing}
        assert "syncing big…" in details and "syncing …" not in details, details
        # the bar's rows are grouped: "60,000", not "60000"
        assert any(f"of {BIG:,} rows" in s["progress"] for s in syncing), syncing
        screenshot(b, "live-new-device-in-sync")

        # unticked, copy kept: the panels never call it synced, and the section says
        # what became of the copy and of the server's rows
        # Cancel at the first question changes nothing (it unticked the table all the
        # same: Cancel was "keep the copy")
        b.once("dialog", lambda dialog: dialog.dismiss())
        b.locator('#remote-tables-body input[data-table="big"]').click()
        assert b.locator('#remote-tables-body input[data-table="big"]').is_checked()
        assert b.evaluate("window.ducksync.subscriptions()")["not_held"] == []
        answers = iter([True, False])  # stop syncing it: yes; delete the copy: no, keep it
        b.on("dialog", lambda dialog: dialog.accept() if next(answers) else dialog.dismiss())
        b.locator('#remote-tables-body input[data-table="big"]').uncheck()
        b.wait_for_function("""() => document.getElementById('remote-result').textContent
            .includes('is kept')""", timeout=WAIT_MS)
        b.wait_for_function(f"(want) => ({STATE})('big').every((s) => s === want)",
                            arg=NOT_HELD, timeout=WAIT_MS)
        assert "server keeps every row" in b.inner_text("#remote-result")
        screenshot(b, "live-kept-copy-not-held")
        b.evaluate(BOXES)
        b.locator('#remote-tables-body input[data-table="big"]').check()
        b.wait_for_function("""() => document.getElementById('remote-result').textContent
            .includes('syncs from now on')""", timeout=WAIT_MS)
        b.wait_for_function(f"() => ({STATE})('big').every((s) => s?.startsWith('synced'))",
                            timeout=WAIT_MS)
        # held again, it is pulled at once: its box stays ticked all along (a read of the
        # choices behind that run drew the old one)
        boxes = b.evaluate("window.__boxes")
        assert boxes[-1] is True and False not in boxes[boxes.index(True):], boxes

        # offline, a sync asked for fails and the server's tables cannot be read: the
        # lists keep them as last read and say so (they were replaced by the error, the
        # "hold here" boxes with them, though holding works offline)
        context.set_offline(True)
        b.wait_for_function("() => window.ducksync.status().sync.phase === 'offline'",
                            timeout=WAIT_MS)
        b.get_by_role("button", name="Sync now").click()
        stale = b.locator("#schema-remote-stale")
        stale.wait_for(timeout=WAIT_MS)
        assert stale.inner_text().startswith("As read at ")
        assert "could not be reached" in stale.inner_text()
        assert b.locator('#remote-tables-body input[data-table="big"]').is_checked()
        assert "As read at " in b.inner_text("#remote-tables-body tr.stale")
        assert b.inner_text("#schema-remote tr[data-table='big'] td.num") == f"{BIG}"
        screenshot(b, "live-offline-server-as-read")
        context.set_offline(False)
        b.wait_for_function(LIVE, timeout=WAIT_MS)
        b.locator("#schema-remote-stale").wait_for(state="detached", timeout=WAIT_MS)
    finally:
        context.close()
        server.stop()


def test_unticking_a_table_while_it_arrives_stops_its_download(browser: Any,
                                                               tmp_path: Path) -> None:
    """The bootstrap went on to the last row before the choice applied (then dropped it
    all), and meanwhile the box showed the old choice again."""
    import duckdb

    rows = 2_000_000  # seconds of download here: time to untick it on the way
    with duckdb.connect(str(tmp_path / "remote.duckdb")) as con:
        con.execute("CREATE TABLE huge (id BIGINT PRIMARY KEY, name VARCHAR)")
        con.execute(f"INSERT INTO huge SELECT range, 'row ' || range FROM range({rows})")
    server = start_server(tmp_path)
    b = open_in_new_context(browser, server.url)
    try:
        b.wait_for_function("""() => /^huge: /.test(
            document.getElementById('sync-progress-label').textContent)
            && !document.getElementById('sync-progress').hidden""", timeout=60_000)
        b.evaluate(BOXES.replace('"big"', '"huge"'))
        b.on("dialog", lambda dialog: dialog.accept())  # stop syncing it, delete the copy
        b.locator('#remote-tables-body input[data-table="huge"]').uncheck()
        b.wait_for_function("""() => document.getElementById('remote-result').textContent
            .includes('was deleted')""", timeout=WAIT_MS)
        b.wait_for_function(LIVE, timeout=WAIT_MS)
        start = [r for r in b.evaluate("window.ducksync.syncLog(10)") if r["trigger"] == "start"]
        assert start[0]["outcome"] == "cancelled" and start[0]["rows_pulled"] < rows, start
        assert b.evaluate("window.ducksync.query(\"SELECT count(*)::INTEGER AS n FROM "
                          "duckdb_tables() WHERE table_name = 'huge'\")") == [{"n": 0}]
        boxes = b.evaluate("window.__boxes")
        # never ticked again once unticked (a progress label drawn before the click
        # records the box as it still was: ticked)
        assert False in boxes and True not in boxes[boxes.index(False):], boxes
    finally:
        b.context.close()
        server.stop()


BADGE = "() => document.querySelector('#status-sync b').textContent"
KEPT_CHANGED = "1 table not held here has changes that will not be sent"


def test_an_edit_to_a_kept_copy_is_said_never_to_be_sent(browser: Any, tmp_path: Path) -> None:
    """Unticked with its copy kept, then edited: the badge said "in sync" alone (only the
    lists said the copy is not held), and nothing said that the edit is never sent. The
    device is still in sync (no error), and the edit stays here."""
    import duckdb

    with duckdb.connect(str(tmp_path / "remote.duckdb")) as con:
        con.execute("CREATE TABLE kept_notes (id BIGINT PRIMARY KEY, body VARCHAR)")
        con.execute("INSERT INTO kept_notes VALUES (1, 'one'), (2, 'two')")
    server = start_server(tmp_path)
    b = open_in_new_context(browser, server.url)
    try:
        b.wait_for_function(LIVE, timeout=60_000)
        answers = iter([True, False])  # stop syncing it: yes; delete the copy: no, keep it
        b.on("dialog", lambda dialog: dialog.accept() if next(answers) else dialog.dismiss())
        b.locator('#remote-tables-body input[data-table="kept_notes"]').uncheck()
        b.wait_for_function("""() => document.getElementById('remote-result').textContent
            .includes('is kept')""", timeout=WAIT_MS)
        ex(b, "UPDATE kept_notes SET body = 'edited here' WHERE id = 1")
        b.wait_for_function(f"() => ({BADGE})().includes({KEPT_CHANGED!r})", timeout=WAIT_MS)
        assert b.evaluate(BADGE) == "in sync · " + KEPT_CHANGED
        assert b.locator("#status-sync").get_attribute("data-phase") == "idle"  # no error
        assert ("Table kept_notes is not held here: its changes made here will not be sent."
                in b.inner_text("#sync-detail"))
        assert b.evaluate("(t) => (" + STATE + ")(t)", "kept_notes") == [NOT_HELD] * 2
        screenshot(b, "live-kept-copy-edited")
        # held again, the edit is sent and the badge says "in sync" alone
        b.locator('#remote-tables-body input[data-table="kept_notes"]').check()
        b.wait_for_function(f"() => ({BADGE})() === 'in sync'", timeout=WAIT_MS)
        runs = b.evaluate("window.ducksync.syncLog(20)")  # a feed run may come after it
        assert sum(r["rows_pushed"] for r in runs) == 1, runs
    finally:
        b.context.close()
        server.stop()


# Every state of the "hold here" boxes from the page's first drawing on.
BOXES_FROM_START = """(() => { window.__holds = [];
  const record = () => window.__holds.push(Object.fromEntries([...document.querySelectorAll(
      '#remote-tables-body input[type=checkbox]')].map((b) => [b.dataset.table, b.checked])));
  document.addEventListener('DOMContentLoaded', () => new MutationObserver(record).observe(
      document.body, {subtree: true, childList: true, attributes: true}));
})();"""


def test_a_device_holding_one_table_never_shows_another_ticked(browser: Any,
                                                                tmp_path: Path) -> None:
    """connect({tables: ["big"]}) (the demo page's ?tables=big) on a new device: during
    its first sync the "hold here" list showed ``small`` ticked too (a read of the
    choices between the statements that stored them answered "every table")."""
    import duckdb

    with duckdb.connect(str(tmp_path / "remote.duckdb")) as con:
        for table, rows in (("big", BIG), ("small", 10)):
            con.execute(f"CREATE TABLE {table} AS SELECT range::BIGINT AS id FROM range({rows})")
            con.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
    server = start_server(tmp_path)
    context, b = open_recorded(browser, server.url + "/?tables=big", BOXES_FROM_START)
    try:
        b.wait_for_function("() => window.__holds.some((h) => 'small' in h)", timeout=WAIT_MS)
        holds = [h for h in b.evaluate("window.__holds") if h]
        assert holds and all(h.get("big") is True and h.get("small") is False
                             for h in holds if "small" in h), holds
        assert b.evaluate("window.ducksync.subscriptions()") == {
            "all": False, "held": ["big"], "not_held": []}
    finally:
        context.close()
        server.stop()
