"""The Remote section's "hold here" boxes (web/ui_remote.py, MicroPython in the page; here in
CPython with stand-ins for the client, the page's elements and its tables)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from page_modules import HeldPromise, page_module


class Client:
    """Keeps each event's handler and each subscribe call's promise, answered by the test."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}
        self.calls: list[HeldPromise] = []

    def on(self, event: str, fn: Any) -> None:
        self.handlers[event] = fn

    def status(self) -> Any:
        return SimpleNamespace(sync={"running": False})

    def subscribe(self, _table: str) -> HeldPromise:
        self.calls.append(HeldPromise())
        return self.calls[-1]


class Tables:
    def add(self, _view: Any) -> None:
        pass

    def ticking(self) -> None:
        pass

    def took_choices(self, _subs: Any) -> None:
        pass

    def tick_failed(self) -> None:
        pass


@pytest.fixture
def remote() -> Iterator[Any]:
    with page_module("ui_remote") as module:
        elements: dict[str, Any] = {}

        def el(name: str) -> Any:
            return elements.setdefault(name, SimpleNamespace(
                dataset=SimpleNamespace(), textContent="", value="proxy", hidden=False,
                disabled=False, addEventListener=lambda *_a: None))

        module.el = el
        module.from_js = lambda value: value  # the events here are Python already
        module.window = SimpleNamespace(
            URLSearchParams=SimpleNamespace(new=lambda _s: SimpleNamespace(get=lambda _k: None)),
            location=SimpleNamespace(search=""), ducksyncSession=None)
        module.elements = elements
        yield module


def test_a_tick_that_waits_for_another_tables_download_says_so(remote: Any) -> None:
    """Ticked while big downloaded, the box sat disabled for minutes with nothing said."""
    client = Client()
    panel = remote.RemotePanel(client, Tables(), after_switch=lambda: None)
    client.handlers["sync"]({"running": True})
    client.handlers["progress"]({"table": "big", "rows_done": 10, "rows_total": 300000})
    box = SimpleNamespace(dataset=SimpleNamespace(table="small"), checked=True,
                          disabled=False, title="")
    panel.on_hold(SimpleNamespace(target=box))
    assert box.disabled
    said = remote.elements["remote-result"].textContent
    assert said == box.title == "Holding small here waits for the sync of big to finish."
    client.handlers["sync"]({"running": False})  # big is in; the tick is saved now
    client.calls[-1].ok({"all": True})
    assert box.title == ""
    assert remote.elements["remote-result"].textContent.startswith("small is held")


def test_a_sync_that_began_before_the_page_listened_is_known_by_its_progress(
        remote: Any) -> None:
    """A new device's first sync starts while the page loads: no "sync started" event."""
    client = Client()
    panel = remote.RemotePanel(client, Tables(), after_switch=lambda: None)
    client.handlers["progress"]({"table": "big", "rows_done": 10, "rows_total": 300000})
    client.handlers["progress"]({"task": "backup", "table": "notes"})  # not a sync
    box = SimpleNamespace(dataset=SimpleNamespace(table="small"), checked=True,
                          disabled=False, title="")
    panel.on_hold(SimpleNamespace(target=box))
    assert box.title == "Holding small here waits for the sync of big to finish."


def test_a_tick_with_no_sync_running_says_nothing_while_it_is_saved(remote: Any) -> None:
    client = Client()
    panel = remote.RemotePanel(client, Tables(), after_switch=lambda: None)
    client.handlers["sync"]({"running": True})
    client.handlers["sync"]({"running": False})
    box = SimpleNamespace(dataset=SimpleNamespace(table="small"), checked=True,
                          disabled=False, title="")
    panel.on_hold(SimpleNamespace(target=box))
    assert box.title == "" and "remote-result" not in remote.elements  # nothing said
