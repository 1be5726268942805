"""The example app (web/example/, served at /example/): what an app developer copies.

One device, one server seeded with an unrelated table: todos are added, marked done,
edited and deleted through the page's own controls, "Sync now" reports in the page, the
server's file holds exactly the result; then the server goes away and the app starts
again from the service worker and keeps a todo written offline, counted as not sent
(sending on reconnect is the engine's, tested in test_reconnect.py). On the way, a DuckDB
extension downloaded online loads from the service worker's cache offline.
Screenshots: test-results/screens/example-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pageutil import evaluate_error, forward_console, screenshot, wait_ready

from serverutil import RunningServer, start_server

pytestmark = pytest.mark.browser

SW_CONTROLS = "() => navigator.serviceWorker.controller?.state === 'activated'"
REPORT = re.compile(r"^(Synced in \d+ ms: \d+ changes? sent, \d+ changes? received"
                    r"|In sync \(checked in \d+ ms\): nothing to send or receive)\.$")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
LOAD_JSON = "window.ducksync.exec('LOAD json')"
EXTENSION_HEADERS = {"access-control-allow-origin": "*", "content-type": "application/wasm",
                     "cross-origin-resource-policy": "cross-origin"}


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[Path, RunningServer]]:
    """A server whose remote already holds an unrelated table the app must not download."""
    with duckdb.connect(str(tmp_path / "remote.duckdb")) as con:
        con.execute("CREATE TABLE birds (id INTEGER PRIMARY KEY, name VARCHAR)")
        con.execute("INSERT INTO birds SELECT range, 'duck ' || range FROM range(3)")
    server = start_server(tmp_path)
    yield tmp_path, server
    server.stop()


def remote_todos(path: Path) -> list[tuple[str, bool]]:
    """The todos in the server's file (read while the server is stopped)."""
    with duckdb.connect(str(path), read_only=True) as con:
        return [(str(t), bool(d)) for t, d in
                con.execute("SELECT title, done FROM todos ORDER BY title").fetchall()]


def todo(page: Any, title: str) -> Any:
    return page.locator("#todos li", has=page.locator(".todo-title", has_text=title))


def add(page: Any, title: str) -> None:
    page.fill("#new-title", title)
    page.press("#new-title", "Enter")
    todo(page, title).wait_for()


def wait_in_sync(page: Any) -> None:
    page.wait_for_function("() => document.getElementById('sync-status').dataset.phase"
                           " === 'idle' && document.getElementById('pending').dataset.count"
                           " === '0'", timeout=30_000)


def test_todos_edited_in_the_page_reach_the_server_and_the_app_starts_offline(
        browser: Any, seeded: tuple[Path, RunningServer]) -> None:
    _, server = seeded
    context = browser.new_context()
    page = context.new_page()
    forward_console(page)
    try:
        page.goto(server.url + "/example/")
        wait_ready(page)
        for title in ("Buy duck food", "Feed the ducks"):
            add(page, title)
        when = todo(page, "Buy duck food").locator(".todo-when")
        assert when.get_attribute("datetime").endswith("Z")  # exact, machine-readable
        assert not ISO.search(when.inner_text())  # shown in words, not as a raw stamp

        page.get_by_label("Done: Buy duck food").check()
        page.wait_for_selector('#todos li[data-done="true"]')
        page.get_by_role("button", name="Edit: Buy duck food").click()
        todo(page, "Buy duck food").locator(".todo-input").fill("Buy more duck food")
        page.keyboard.press("Enter")
        todo(page, "Buy more duck food").wait_for()
        page.get_by_role("button", name="Delete: Feed the ducks").click()
        todo(page, "Feed the ducks").wait_for(state="detached")

        page.click("#sync-now")
        page.wait_for_function("() => ['ok', 'error'].includes("
                               "document.getElementById('sync-result').dataset.state)")
        assert REPORT.match(page.inner_text("#sync-result")), page.inner_text("#sync-result")
        wait_in_sync(page)
        page.wait_for_function(SW_CONTROLS)  # precached: the next start needs no network
        screenshot(page, "example-online")
        # only its own table: the server's unrelated `birds` never came down
        assert page.evaluate("window.ducksync.query(\"SELECT count(*)::INT AS n FROM "
                             "duckdb_tables() WHERE table_name = 'birds'\")") == [{"n": 0}]

        # A DuckDB extension downloaded once is kept for offline use (web/sw.js). A stand-in
        # answers for extensions.duckdb.org (unreachable here); its bytes are no real
        # extension, so DuckDB's signature check refuses them: what counts is who served them.
        downloads: list[str] = []
        context.route("**/*.duckdb_extension.wasm", lambda route: (
            downloads.append(route.request.url),
            route.fulfill(status=200, body=b"\0asm\1\0\0\0", headers=EXTENSION_HEADERS)))
        assert "signature" in evaluate_error(page, LOAD_JSON)["message"]
        assert [u.rsplit("/", 1)[1] for u in downloads] == ["json.duckdb_extension.wasm"]

        server.stop()  # nothing can come from the network from here on
        assert remote_todos(server.remote) == [("Buy more duck food", True)]
        context.set_offline(True)
        page.reload()
        wait_ready(page)
        assert page.locator("#todos li").count() == 1  # from this device's database
        assert page.locator("#online").get_attribute("data-online") == "false"
        assert "signature" in evaluate_error(page, LOAD_JSON)["message"]
        assert len(downloads) == 1  # answered by the service worker's copy
        add(page, "Written offline")
        page.wait_for_function("() => Number(document.getElementById('pending')"
                               ".dataset.count) > 0")  # kept here, counted as not sent
        screenshot(page, "example-offline")

        # the server back, its todos changed meanwhile by another tool: the sync on
        # reconnect fails, and the page says why (was "Sync failed" and nothing more)
        with duckdb.connect(str(server.remote)) as con:
            con.execute("ALTER TABLE todos ALTER done TYPE VARCHAR")
        back = start_server(seeded[0], port=int(server.url.rsplit(":", 1)[1]))
        try:
            context.set_offline(False)
            page.wait_for_function("() => document.getElementById('sync-result')"
                                   ".dataset.state === 'error'", timeout=60_000)
            assert "todos.done" in page.inner_text("#sync-result")
            assert page.locator("#sync-status").get_attribute("data-phase") == "error"
        finally:
            back.stop()
    finally:
        context.close()
