"""The example app (web/example/) tested the way an app developer would: only the kit.

Served as an app ships (its own folder as the web root, ducksync's assets beside it), two
devices add todos through the page, one of them offline; both meet on the server. This is
the file docs/testing.md walks through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ducksync.testing import assert_converged

pytestmark = pytest.mark.browser

EXAMPLE_APP = Path(__file__).resolve().parents[2] / "web" / "example"


def add_todo(device: Any, title: str) -> None:
    """Type a todo and press Enter, then wait until the list shows it."""
    device.page.fill("#new-title", title)
    device.page.press("#new-title", "Enter")
    device.page.locator("#todos .todo-title", has_text=title).wait_for()


def test_todos_from_two_devices_one_offline_meet_on_the_server(ducksync_server: Any,
                                                               ducksync_device: Any) -> None:
    server = ducksync_server(web_root=EXAMPLE_APP)
    phone, laptop = ducksync_device(server), ducksync_device(server)

    add_todo(phone, "buy duck food")
    phone.wait_for("db => db.status().sync.in_sync")  # the app syncs by itself after a write

    with laptop.offline():
        add_todo(laptop, "fix the pond")
        laptop.page.locator("#pending", has_text="1 change not sent yet").wait_for()
    laptop.wait_for("db => db.status().sync.in_sync")  # sent on reconnect, and phone's pulled
    laptop.page.locator("#todos .todo-title", has_text="buy duck food").wait_for()

    phone.page.click("#sync-now")
    phone.page.locator("#todos .todo-title", has_text="fix the pond").wait_for()
    rows = assert_converged(server, phone, laptop, table="todos")
    assert sorted(row["title"] for row in rows) == ["buy duck food", "fix the pond"]
