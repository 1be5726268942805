"""One device: a browser context of its own (OPFS, service worker, workers) running the app.

A :class:`Device` drives the app's ducksync client (``window.ducksync`` unless the app
names another) through Playwright: queries, writes, syncs, going offline, reloading.
Every wait is on the client's own state, never a sleep. Console errors the page or its
workers print are collected; the ``ducksync_device`` fixture fails the test with them
unless the test said it expected them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, ConsoleMessage, Page

    from ducksync.testing.server import DucksyncServer

log = logging.getLogger("ducksync.testing")
READY_TIMEOUT_MS = 90_000
STATE_TIMEOUT_MS = 30_000
DEFAULT_CLIENT = "window.ducksync"
# Chromium logs every failed load as a console error. A load that failed at the network
# level (offline, the server killed) is the fault a test made; an HTTP error status
# (404, 500) is not noise and stays an error, with its URL (except the favicon Chromium
# asks for by itself).
FAILED_LOAD = "Failed to load resource"
NETWORK_FAILURE = re.compile(r"^Failed to load resource: net::ERR_")
# snake_case options of ``sync()`` in Python, camelCase in the JS API.
_SYNC_OPTIONS = {"batch_rows": "batchRows", "allow_mass_delete": "allowMassDelete"}


class DeviceError(AssertionError):
    """A device did not get ready, or a call into its client failed (the message says which)."""


@dataclass
class _Expectation:
    pattern: re.Pattern[str]
    matched: bool = False


class Device:
    """The app in one browser context, its ducksync client driven from Python.

    Made by the ``ducksync_device`` fixture. ``page`` and ``context`` are Playwright's,
    for anything the kit does not wrap (clicks, screenshots, ``page.evaluate``).
    """

    def __init__(self, context: BrowserContext, server: DucksyncServer, *, name: str,
                 path: str = "/", client: str = DEFAULT_CLIENT) -> None:
        self.context = context
        self.server = server
        self.name = name
        self.url = server.url + (path if path.startswith("/") else "/" + path)
        self.client = client
        self.page: Page = context.new_page()
        self.console_errors: list[str] = []  # unexpected ones; the fixture fails on them
        self._allowed: list[re.Pattern[str]] = []
        self._expected: list[_Expectation] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self._record(f"uncaught {exc}"))

    # --- console -----------------------------------------------------------------------

    def _on_console(self, message: ConsoleMessage) -> None:
        log_console(self.name, message)
        if message.type != "error" or NETWORK_FAILURE.search(message.text):
            return
        url = str(message.location.get("url", ""))
        if not message.text.startswith(FAILED_LOAD):
            self._record(message.text)
        elif not url.endswith("/favicon.ico"):  # the browser's own guess, not the app's
            self._record(f"{message.text}: {url}")  # which resource, or it is no help

    def _record(self, text: str) -> None:
        for expectation in self._expected:
            if expectation.pattern.search(text):
                expectation.matched = True
                return
        if not any(pattern.search(text) for pattern in self._allowed):
            log.error("[%s console error] %s", self.name, text)
            self.console_errors.append(text)

    def allow_console_errors(self, *patterns: str) -> None:
        """Console errors matching any regex in ``patterns`` never fail this test."""
        self._allowed.extend(re.compile(p) for p in patterns)

    @contextmanager
    def expect_console_errors(self, *patterns: str) -> Iterator[None]:
        """Inside the block, errors matching ``patterns`` are expected, and each pattern
        must match at least one: a fault the test provokes has to show."""
        expectations = [_Expectation(re.compile(p)) for p in patterns]
        self._expected.extend(expectations)
        try:
            yield
        finally:
            for expectation in expectations:
                self._expected.remove(expectation)
        missing = [e.pattern.pattern for e in expectations if not e.matched]
        if missing:
            raise DeviceError(f"device {self.name}: expected console errors matching "
                              f"{missing} but none came")

    # --- lifecycle ---------------------------------------------------------------------

    def open(self, *, timeout_ms: int = READY_TIMEOUT_MS) -> Device:
        """Load the page and wait until its client is ready."""
        self.page.goto(self.url)
        return self.wait_ready(timeout_ms=timeout_ms)

    def wait_ready(self, *, timeout_ms: int = READY_TIMEOUT_MS) -> Device:
        """Wait until the app's client is set (see :func:`wait_client_ready`)."""
        try:
            wait_client_ready(self.page, client=self.client, timeout_ms=timeout_ms)
        except DeviceError as exc:
            raise DeviceError(f"device {self.name}: {exc} Console errors so far: "
                              f"{self.console_errors or 'none'}") from None
        return self

    def reload(self) -> Device:
        """Reload the page (same context: OPFS and service worker stay) and wait for ready."""
        self.page.reload()
        return self.wait_ready()

    def close(self) -> None:
        """Close this device's context (its pages, workers and OPFS handles)."""
        self.context.close()

    # --- the client --------------------------------------------------------------------

    def call(self, method: str, *args: Any) -> Any:
        """``client[method](...args)`` in the page, awaited; a rejection raises DeviceError."""
        return call_client(self.page, method, *args, client=self.client, who=self.name)

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows of ``sql`` on this device's local database (JSON-friendly values)."""
        rows: list[dict[str, Any]] = self.call("query", sql)
        return rows

    def exec(self, sql: str) -> None:
        """Run a statement locally (durable in OPFS when it returns)."""
        self.call("exec", sql)

    def sync(self, **options: Any) -> dict[str, Any]:
        """Sync now: ``tables=[...]``, ``direction="push"|"pull"|"both"``, ``policy=...``,
        ``batch_rows=...``, ``allow_mass_delete=...``; returns the sync report."""
        js_options = {_SYNC_OPTIONS.get(k, k): v for k, v in options.items()}
        report: dict[str, Any] = self.call("sync", js_options)
        return report

    def status(self) -> dict[str, Any]:
        """``client.status()``: workers' phases, ``online``, ``tab`` and ``sync`` state."""
        status: dict[str, Any] = self.call("status")
        return status

    def wait_for(self, predicate: str, *, timeout_ms: int = STATE_TIMEOUT_MS) -> Any:
        """Wait until the JS function ``predicate(client)`` returns something truthy.

        ``device.wait_for("db => db.status().sync.in_sync")``
        """
        try:
            return self.page.wait_for_function(f"() => ({predicate})({self.client})",
                                               timeout=timeout_ms, polling=100).json_value()
        except PlaywrightTimeoutError:
            raise DeviceError(f"device {self.name}: {predicate} still false after "
                              f"{timeout_ms / 1000:g} s; status: {self.status()}") from None

    @contextmanager
    def offline(self) -> Iterator[Device]:
        """Cut this device's network for the block, and make the app notice both ways.

        ``context.set_offline`` alone changes ``navigator.onLine``; the remote worker's
        probe (``remoteHealth()``) is what tells the sync engine, so it runs on the way
        out and back, and the block starts only once ``status().online`` is false. On
        the way back an auto-syncing app sends what was written offline by itself.
        """
        self.context.set_offline(True)
        self.call("remoteHealth")
        self.wait_for("db => !db.status().online")
        try:
            yield self
        finally:
            self.context.set_offline(False)
        if self.server.running:
            self.call("remoteHealth")
            self.wait_for("db => db.status().online")

    def __repr__(self) -> str:
        return f"Device({self.name!r}, {self.url})"


# --- the same, for a bare Playwright page (the project's own e2e helpers use these) ---------

def log_console(who: str, message: ConsoleMessage) -> None:
    """A page's or worker's console line into the test log (shown for failing tests)."""
    log.info("[%s %s] %s", who, message.type, message.text)


def wait_client_ready(page: Page, *, client: str = DEFAULT_CLIENT,
                      timeout_ms: int = READY_TIMEOUT_MS) -> None:
    """Wait until the page's ducksync client is set: the app's readiness signal, no sleeps.

    The demo page sets ``window.ducksync`` once both workers settled and its UI is wired
    (``data-ready="failed"`` on ``<body>`` ends the wait early); an app exposes its client
    the same way once ``connect()`` resolved, or names another expression (``client=``).
    """
    signal = (f"() => (({client}) ? 'ready' : null) || "
              "(document.body?.dataset.ready === 'failed' ? 'failed' : null)")
    try:
        state = page.wait_for_function(signal, timeout=timeout_ms).json_value()
    except PlaywrightTimeoutError:
        raise DeviceError(f"{client} was not set within {timeout_ms / 1000:g} s at {page.url};"
                          " the page must expose its ducksync client there once connect() "
                          "resolved.") from None
    if state == "failed":
        raise DeviceError(f"the app failed to start at {page.url} (data-ready=\"failed\").")


def call_client(page: Page, method: str, *args: Any, client: str = DEFAULT_CLIENT,
                who: str = "page") -> Any:
    """``client[method](...args)`` in ``page``, awaited; a rejection raises DeviceError
    naming the call and the client's own message (typed name and code included)."""
    try:
        return page.evaluate(f"(args) => ({client}).{method}(...args)", list(args))
    except PlaywrightTimeoutError:
        raise
    except PlaywrightError as exc:
        shown = ", ".join(repr(a) for a in args)
        raise DeviceError(f"device {who}: {method}({shown}) failed: {exc.message}") from exc
