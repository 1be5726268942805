"""Offline-first: after one visit the service worker boots the whole app with no network.

The test has its own server and stops it before going offline, so nothing can come from
the network (Playwright's ``set_offline`` alone may not cover a service worker's fetches):
every file of the offline boot, inside the workers too, is served by ``web/sw.js``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pageutil import forward_console, wait_ready

from serverutil import RunningServer, running_server

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SW_CONTROLS = "() => navigator.serviceWorker.controller?.state === 'activated'"
# The outcome of the page's last sync when the page registers its service worker.
RECORD_REGISTER = """(() => {
  const register = navigator.serviceWorker.register.bind(navigator.serviceWorker);
  navigator.serviceWorker.register = (...args) => {
    window.__syncAtRegister = window.ducksyncClient?.syncState?.last_outcome ?? null;
    return register(...args);
  };
})()"""
REMOTE_OFFLINE = "() => window.ducksync.status().remote.phase === 'offline'"


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path) as server:
        yield server


def visit_once(browser: Any, url: str) -> tuple[Any, Any]:
    """A fresh context's first visit; returns once the service worker controls the page."""
    context = browser.new_context()
    context.add_init_script(RECORD_REGISTER)
    page = context.new_page()
    forward_console(page)
    page.goto(url)
    wait_ready(page)
    # install (= precache of every file) finished, activated, and claimed this page
    page.wait_for_function(SW_CONTROLS)
    return context, page


def check_precache(page: Any, url: str) -> None:
    """Exactly the manifest's files are cached; served with isolation headers; no /api/."""
    seen = page.evaluate("""async () => {
        const r = await fetch("/dist/vendor/duckdb-wasm-1.32.0/duckdb-eh.wasm");
        const keys = (await Promise.all((await caches.keys()).map(
            async (name) => (await (await caches.open(name)).keys()).map((k) => k.url)))).flat();
        return {coep: r.headers.get("cross-origin-embedder-policy"),
                corp: r.headers.get("cross-origin-resource-policy"),
                hash: r.headers.get("x-ducksync-hash"), keys};
    }""")
    assert seen["coep"] == "require-corp" and seen["corp"] == "same-origin"
    assert seen["hash"]  # answered from the precache, not the network
    manifest = json.loads((ROOT / "web" / "dist" / "precache.json").read_text())
    assert {key.removeprefix(url + "/") for key in seen["keys"]} == set(manifest["files"])
    assert not [key for key in seen["keys"] if "/api/" in key or "readyz" in key]


def test_app_boots_and_keeps_writes_with_no_network(browser: Any,
                                                    own_server: RunningServer) -> None:
    context, page = visit_once(browser, own_server.url)
    try:
        # registered once the page's first sync ended: its precache (the whole app) did not
        # share the cores with that sync (a new device's download; was: at ready)
        assert page.evaluate("window.__syncAtRegister") in ("ok", "nothing")
        check_precache(page, own_server.url)
        own_server.stop()
        context.set_offline(True)

        page.reload()
        wait_ready(page)
        assert page.evaluate("crossOriginIsolated") is True
        status = page.evaluate("window.ducksync.status()")
        assert status["local"]["phase"] == "ready"
        assert status["remote"]["phase"] == "offline", status["remote"]
        assert "unreachable" in status["remote"]["reason"]
        assert status["online"] is False
        assert page.locator("#status-remote").get_attribute("data-phase") == "offline"
        assert page.evaluate("window.ducksync.query('SELECT 41 + 1 AS answer')") \
            == [{"answer": 42}]

        # A write made offline survives another offline reload (it is in OPFS).
        page.evaluate("""async () => {
            await window.ducksync.exec("CREATE TABLE notes (id INTEGER, body VARCHAR)");
            await window.ducksync.exec("INSERT INTO notes VALUES (1, 'written offline')");
        }""")
        page.reload()
        wait_ready(page)
        assert page.evaluate("crossOriginIsolated") is True
        assert page.evaluate("window.ducksync.query('SELECT * FROM notes')") \
            == [{"id": 1, "body": "written offline"}]
        page.wait_for_function(REMOTE_OFFLINE)
    finally:
        context.close()

