"""The page's one read of its tables (web/ui_tables.py, MicroPython in the page; here in
CPython with a stand-in client whose promises the test settles in any order)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from page_modules import HeldPromise, page_module


class Client:
    """Records each call with its promise; answers nothing until the test says."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, HeldPromise]] = []

    def on(self, _event: str, _fn: Any) -> None:
        pass

    def _ask(self, what: str) -> HeldPromise:
        promise = HeldPromise()
        self.asked.append((what, promise))
        return promise

    def queryTable(self, sql: str) -> HeldPromise:
        return self._ask("counts" if sql.startswith("SELECT (SELECT count") else "catalog")

    def syncTables(self) -> HeldPromise:
        return self._ask("synced")

    def remoteTables(self) -> HeldPromise:
        return self._ask("listing")

    def subscriptions(self) -> HeldPromise:
        return self._ask("subs")

    def take(self, what: str) -> HeldPromise:
        i = next(i for i, (w, _) in enumerate(self.asked) if w == what)
        return self.asked.pop(i)[1]


class View:
    def __init__(self) -> None:
        self.drawn: list[tuple[list[int], list[str]]] = []
        self.remote: list[tuple[Any, Any, Any]] = []

    def draw_remote(self, listing: Any, subs: Any, error: Any) -> None:
        self.remote.append((listing, subs, error))

    def draw_local(self, local: dict[str, Any]) -> None:
        self.drawn.append((list(local["counts"]), sorted(local["synced"])))


CATALOG = [["main", "notes", "id", "INTEGER", False, ["id"]]]


@pytest.fixture
def tables() -> Iterator[Any]:
    with page_module("ui_tables") as module:
        module.from_js = lambda value: value  # the answers here are Python already
        yield module


def answer_counts(client: Client, n: int) -> None:
    client.take("catalog").ok(SimpleNamespace(rows=CATALOG))
    client.take("counts").ok(SimpleNamespace(rows=[[n]]))


def test_every_view_draws_once_all_parts_of_a_read_are_in(tables: Any) -> None:
    client, sync_view, schema_view = Client(), View(), View()
    page = tables.PageTables(client)
    page.add(sync_view)
    page.add(schema_view)
    page.read_local(sync_state=True)
    answer_counts(client, 3)
    assert sync_view.drawn == []  # the sync state is not in yet: nothing drawn half
    client.take("synced").ok([{"table": "notes", "unsent": 0}])
    assert sync_view.drawn == schema_view.drawn == [([3], ["notes"])]


def test_an_older_read_answering_late_never_undoes_a_newer_one(tables: Any) -> None:
    client, view = Client(), View()
    page = tables.PageTables(client)
    page.add(view)
    page.read_local(sync_state=True)  # after a sync: counts and sync state
    older_catalog, older_synced = client.take("catalog"), client.take("synced")
    page.read_local(sync_state=False)  # a write meanwhile: counts only
    answer_counts(client, 4)
    assert view.drawn == [([4], [])]
    older_catalog.ok(SimpleNamespace(rows=CATALOG))
    client.take("counts").ok(SimpleNamespace(rows=[[3]]))  # the older read's count
    older_synced.ok([{"table": "notes", "unsent": 1}])
    # the newer count stays; the sync state (only the older read asked for it) is taken
    assert view.drawn[-1] == ([4], ["notes"])
    assert page.local["unsent"] == {"notes": 1}


def test_the_servers_lists_draw_together_when_its_tables_arrive(tables: Any) -> None:
    client, schema_view, hold_view = Client(), View(), View()
    page = tables.PageTables(client)
    page.clock = lambda: "5:10:44 AM"
    page.add(schema_view)
    page.add(hold_view)
    listing, every = {"tables": [{"name": "t", "rows": 2}]}, {"all": True}
    page.read_remote()
    client.take("listing").ok(listing)
    assert hold_view.remote == []  # the first read waits for this device's choices
    client.take("subs").ok(every)
    assert schema_view.remote == hold_view.remote == [(listing, every, None)]
    # later reads draw as soon as the server answers, with the choices last read...
    page.read_remote()
    newer = {"tables": [{"name": "t", "rows": 3}]}
    client.take("listing").ok(newer)
    assert hold_view.remote[-1] == (newer, every, None)
    client.take("subs").ok({"all": True})  # ...and again only if the choices moved
    assert len(hold_view.remote) == 2
    page.read_remote()
    client.take("subs").ok({"all": False})
    client.take("listing").ok(newer)
    assert hold_view.remote[-1] == (newer, {"all": False}, None) and len(hold_view.remote) == 3

    # while a tick is saved, nothing redraws the box (a read may predate the tick);
    # its answer is the choices now, and a read asked before it never undoes it
    page.read_remote()
    before = client.take("subs")
    page.ticking()
    page.read_remote()  # e.g. the end of the run the untick stopped
    client.take("subs").ok({"all": False})
    client.take("listing").ok({"tables": []})
    assert len(hold_view.remote) == 3
    page.took_choices({"all": False, "held": ["t"]})
    assert hold_view.remote[-1] == ({"tables": [], "read_at": "5:10:44 AM"},
                                    {"all": False, "held": ["t"]}, None)
    before.ok({"all": False})
    client.take("listing").ok(newer)
    assert hold_view.remote[-1][1] == {"all": False, "held": ["t"]}


def test_the_servers_tables_as_last_read_stay_when_it_cannot_be_reached(tables: Any) -> None:
    """Offline, the lists were replaced by the error (the "hold here" boxes with them,
    though holding is this device's choice): they stay, said to be as read then."""
    client, view = Client(), View()
    page = tables.PageTables(client)
    page.clock = lambda: "5:10:44 AM"
    page.add(view)
    page.read_remote()
    client.take("listing").ok({"tables": [{"name": "t", "rows": 2}]})
    client.take("subs").ok({"all": True})
    page.read_remote()
    down = SimpleNamespace(code="remote_unavailable", message="cannot reach the server: "
                           "Failed to fetch", hint="check the network")
    client.take("listing").failed(down)
    client.take("subs").ok({"all": True})
    listing, subs, error = view.remote[-1]
    assert listing == {"tables": [{"name": "t", "rows": 2}], "read_at": "5:10:44 AM"}
    assert subs == {"all": True} and error is down
    with page_module("ui_common") as common:
        assert common.stale_words(listing, error) == (
            "As read at 5:10:44 AM. The server could not be reached (Failed to fetch).")


def test_a_status_event_that_says_nothing_new_reads_nothing(tables: Any) -> None:
    """The tables list merges syncTables()' counts into its copy of the changes not sent:
    compared with that copy, every later status event looked new and read again."""
    client = Client()
    page = tables.PageTables(client)
    page.add(View())
    page.on_sync({"running": False, "unsent_tables": {"notes": 1}})  # a count arrived
    answer_counts(client, 3)
    client.take("synced").ok([{"table": "notes", "unsent": 1}, {"table": "kept", "unsent": 2}])
    assert page.local["unsent"] == {"notes": 1, "kept": 2}
    page.on_sync({"running": False, "unsent_tables": {"notes": 1}})  # e.g. the feed's state
    assert client.asked == []
