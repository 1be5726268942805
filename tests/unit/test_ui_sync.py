"""The sync panel's pure helpers (web/ui_sync.py runs on MicroPython in the page; these
run in CPython with a stand-in for PyScript's ``pyscript`` module, which they never use)."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from page_modules import page_module


@pytest.fixture(scope="module")
def ui() -> Iterator[Any]:
    with page_module("ui_sync") as module:
        yield module


@pytest.mark.parametrize("stamp", ["2026-12-05 03:41:15.123456", "2026-12-05T03:41:15.000Z",
                                   "1970-01-01 00:00:00", "2000-02-29 23:59:59",
                                   "2100-03-01 12:00:00"])
def test_epoch_seconds_of_a_utc_stamp_are_exact(ui: Any, stamp: str) -> None:
    # The bug: epoch ms through MicroPython's FFI were cut to 32 bits ("6:15:46 AM" for 03:41:15)
    want = calendar.timegm((int(stamp[:4]), int(stamp[5:7]), int(stamp[8:10]),
                            int(stamp[11:13]), int(stamp[14:16]), int(stamp[17:19])))
    assert ui.epoch_s(stamp) == want


def test_ago_from_two_stamps(ui: Any) -> None:
    now = "2026-12-05T03:42:00.000Z"
    assert ui.ago("2026-12-05 03:41:58.5", now) == "just now"
    assert ui.ago("2026-12-05 03:41:15", now) == "45 s ago"
    assert ui.ago("2026-12-04 23:42:00", now) == "4 h ago"


def test_badge_words_never_say_in_sync_unless_proved(ui: Any) -> None:
    words = ui.badge_words
    assert words({"phase": "idle", "unsent": 0}) == "in sync"
    assert words({"phase": "pending", "unsent": None, "last_outcome": None}) == "not synced yet"
    assert words({"phase": "pending", "unsent": 3, "last_outcome": "ok"}) == "3 changes not sent"
    assert words({"phase": "pending", "unsent": None, "last_outcome": "ok"}) == \
        "changes not sent"
    assert words({"phase": "pending", "unsent": 0, "last_outcome": "cancelled"}) == \
        "sync cancelled"
    assert words({"phase": "offline", "unsent": 1}) == "offline, 1 change not sent"
    # a keyless user table is left out of every sync: not "in sync" alone (was)
    assert words({"phase": "idle", "unsent": 0, "keyless_tables": ["scratch"]}) == \
        "in sync · 1 table not synced"
    detail = ui.SyncPanel.detail(None, {"phase": "idle", "keyless_tables": ["scratch"]})
    assert "Table scratch is not synced: no primary key. Declare one to sync it." in detail


@pytest.mark.parametrize(("record", "kind"), [
    ({"local_deleted": False, "remote_deleted": False, "kind": "insert/insert"},
     "insert/insert"),
    ({"local_deleted": True, "remote_deleted": False}, "delete/update"),
    ({"local_deleted": False, "remote_deleted": True}, "update/delete"),
    ({"local_deleted": False, "remote_deleted": False}, "update/update"),
])
def test_conflict_kind_and_missing_versions(ui: Any, record: dict[str, Any], kind: str) -> None:
    assert ui.conflict_kind(record) == kind  # no "local"/"remote" key: never a KeyError


def test_row_text_hides_bookkeeping_and_names_deletions(ui: Any) -> None:
    assert ui.row_text("{'id': 1, 'body': x, '__side': local, '__key': 1}") == \
        "{'id': 1, 'body': x}"
    assert ui.row_text(None, True) == ui.row_text("{'id': 1}", True) == "(deleted)"


@pytest.mark.parametrize(("stop", "acts"), [
    ({"table": "t", "dropped_on": "local"}, ["redownload", "drop"]),
    ({"table": "t", "dropped_on": "remote"}, ["reupload", "drop"]),
    ({"table": "t", "mass_delete": {"side": "remote", "rows": 1200, "of": 1500}}, ["delete"]),
])
def test_a_stopped_table_offers_only_its_explicit_ways_out(ui: Any, stop: dict[str, Any],
                                                           acts: list[str]) -> None:
    html = ui.stopped_item(stop)
    assert [a.split('"')[0] for a in html.split('data-act="')[1:]] == acts
    if "mass_delete" in stop:
        assert "would delete 1200 of its 1500 rows on the server" in html
        assert 'data-rows="1200"' in html


def test_the_status_keeps_structural_stops_until_the_table_syncs() -> None:
    from ducksync.worker.sync_status import SyncStatus

    status = SyncStatus()
    status.note_tables([{"table": "a", "dropped_on": "local", "error": {"code": "x"}},
                        {"table": "b", "mass_delete": {"side": "remote", "rows": 9, "of": 9},
                         "error": {"code": "mass_delete"}},
                        {"table": "c", "error": None}])
    assert status.to_dict()["stopped"] == [
        {"table": "a", "dropped_on": "local"},
        {"table": "b", "mass_delete": {"side": "remote", "rows": 9, "of": 9}}]
    status.note_tables([{"table": "a", "error": {"code": "remote_unavailable"}},
                        {"table": "b", "error": None}])
    assert [s["table"] for s in status.to_dict()["stopped"]] == ["a"]  # b synced again


def test_the_panel_says_whether_other_devices_changes_arrive_live(ui: Any) -> None:
    live = ui.feed_words({"feed": {"state": "live", "reason": None}, "interval_s": 30})
    assert live.startswith("Live:")
    down = ui.feed_words({"feed": {"state": "fallback", "reason": "server unreachable"},
                          "interval_s": 30})
    assert "unavailable (server unreachable)" in down and "every 30 s" in down
    assert "only when you sync" in ui.feed_words({"feed": {"state": "off"}, "interval_s": 0})
    assert ui.feed_words({}) == ""


def test_an_error_names_the_servers_request_id(ui: Any) -> None:
    """What the page shows carries the id the server's operator looks a failure up by."""
    text = ui.plain_error({"code": "remote_unavailable", "message": "the server failed",
                           "hint": "sync again", "request_id": "req-42"})
    assert text.endswith("(request req-42)") and "sync again." in text.lower()
    assert "request" not in ui.plain_error({"code": "query", "message": "m", "hint": None})


def test_offline_says_the_server_is_unreachable_once(ui: Any) -> None:
    """Was "No connection to the server: changes are kept here and sent when it is back.
    Last sync failed: The server could not be reached (…). What to do: … your changes are
    kept here …": the unreachable server said twice. Another error is still said."""
    unreachable = {"code": "remote_unavailable", "message": "cannot reach the server: Failed "
                   "to fetch", "hint": "your changes are kept here and sync retries"}
    text = ui.SyncPanel.detail(None, {"phase": "offline", "last_error": unreachable,
                                      "unsent": 1, "last_outcome": "error"})
    assert text.startswith("No connection to the server")
    assert "Last sync failed" not in text and text.count("kept here") == 1
    assert "1 change made here not sent yet." in text
    other = {"code": "auth", "message": "session expired", "hint": "sign in again"}
    text = ui.SyncPanel.detail(None, {"phase": "offline", "last_error": other, "unsent": 0})
    assert "Last sync failed: Not signed in to the server" in text
    text = ui.SyncPanel.detail(None, {"phase": "error", "last_error": unreachable, "unsent": 0})
    assert "Last sync failed: The server could not be reached" in text


def test_the_badge_before_the_first_status_is_drawn_neutral() -> None:
    """"sync: waiting" was drawn in the "in sync" green (data-phase="idle") until the worker
    answered: nothing is proved yet, so the page starts in the neutral pending state."""
    web = Path(__file__).resolve().parents[2] / "web"
    badge = re.search(r'<span id="status-sync" data-phase="(\w+)">sync: <b>(\w+)</b>',
                      (web / "index.html").read_text())
    assert badge is not None and badge.group(2) == "waiting"
    css = (web / "app.css").read_text()
    colour = re.search(r'#status-sync\[data-phase="' + badge.group(1) + r'"\] b \{ color: (#\w+)',
                       css)
    green = re.search(r'#status-sync\[data-phase="idle"\] b \{ color: (#\w+)', css)
    assert colour is not None and green is not None and colour.group(1) != green.group(1)


def test_a_kept_copy_that_no_sync_covers_is_never_called_synced(ui: Any) -> None:
    # unsubscribed with its copy kept: the sync state stays (synced: true), yet no sync
    # covers it, and the list said "synced 5 s ago" over a change that is never sent
    kept = {"table": "big", "primary_key": ["id"], "synced": True, "held": False,
            "synced_at": "2026-12-05 03:41:15", "unsent": 1}
    assert ui.table_state(kept) == "not synced (this device does not hold it)"
    assert ui.table_state({**kept, "held": True}) == "1 change not sent"
    assert ui.table_state({**kept, "held": True, "unsent": 0}, counting=True) == \
        "counting changes not sent"


def test_the_progress_label_groups_digits_and_says_when_it_is_finishing(ui: Any) -> None:
    p = {"table": "big", "rows_done": 122880, "rows_total": 300000, "bytes_done": 3670016,
         "bytes_total": 9017753, "eta_s": 1.2}
    assert ui.progress_words(p) == "big: 122,880 of 300,000 rows, 3.5 MB of 8.6 MB, about 2 s left"
    # every row here, still writing them: was "300000 of 300000 rows" with nothing more
    assert ui.progress_words({**p, "rows_done": 300000, "eta_s": 0.0}).endswith(
        "300,000 of 300,000 rows, 3.5 MB of 8.6 MB, finishing…")
    assert ui.progress_words({"table": "t", "rows_done": 0, "rows_total": 1}) == \
        "t: 0 of 1 row, 0 B of 0 B"
    assert [ui.grouped(n) for n in (0, 999, 1000, 1234567)] == ["0", "999", "1,000", "1,234,567"]


def test_a_kept_copys_changes_are_said_never_to_be_sent(ui: Any) -> None:
    """Unticked with its copy kept, then edited: the badge said "in sync" alone (only the
    tables list said the copy is not held), and nothing said the edit is never sent."""
    state = {"phase": "idle", "unsent": 0, "not_held_changed": ["big"]}
    assert ui.badge_words(state) == \
        "in sync · 1 table not held here has changes that will not be sent"
    detail = ui.SyncPanel.detail(None, state)
    assert ("Table big is not held here: its changes made here will not be sent. "
            'Tick "hold here" to sync it again.') in detail
    both = {**state, "keyless_tables": ["scratch"], "not_held_changed": ["big", "old"]}
    assert ui.badge_words(both) == \
        ("in sync · 1 table not synced · 2 tables not held here have changes that "
         "will not be sent")
    assert "Tables big, old are not held here: their changes" in ui.SyncPanel.detail(None, both)
    # waiting to send other tables' changes: the badge counts those, the detail says both
    pending = {"phase": "pending", "unsent": 2, "last_outcome": "ok",
               "not_held_changed": ["big"]}
    assert ui.badge_words(pending) == "2 changes not sent"
    assert "Table big is not held here" in ui.SyncPanel.detail(None, pending)
