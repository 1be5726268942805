"""Helpers for driving the app page (imported by the e2e tests and their conftest)."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("ducksync.tests.e2e")
READY_TIMEOUT_MS = 90_000
READY = "() => window.ducksync && document.body.dataset.ready === 'true'"


def manual(url: str) -> str:
    """The app's URL with automatic syncs off (``?sync=manual``: no sync at start, on the
    interval or after writes), for tests that count what each sync they ask for moves."""
    return url.rstrip("/") + "/?sync=manual"


def wait_ready(page: Any) -> Any:
    """Wait for the page's own readiness signal (both workers settled, UI wired): no sleeps."""
    page.wait_for_function(READY, timeout=READY_TIMEOUT_MS)
    return page


def open_in_new_context(browser: Any, url: str) -> Any:
    """A ready app page in a fresh browser context (own OPFS, own cache): one "device"."""
    page = browser.new_context().new_page()
    forward_console(page)
    page.goto(url)
    return wait_ready(page)


def forward_console(page: Any) -> None:
    """Page and worker console lines into the test log (shown for failing tests)."""
    page.on("console", lambda msg: log.info("[browser %s] %s", msg.type, msg.text))
    page.on("pageerror", lambda exc: log.error("[browser pageerror] %s", exc))


def evaluate_error(page: Any, script: str) -> dict[str, Any]:
    """Run ``script`` (an expression whose promise should reject) and describe the rejection."""
    result: dict[str, Any] = page.evaluate(f"""async () => {{
        try {{ await {script}; return {{rejected: false}}; }}
        catch (e) {{ return {{rejected: true, isError: e instanceof Error, name: e.name,
                             code: e.code, message: e.message}}; }}
    }}""")
    return result


def local_worker(page: Any) -> Any:
    """The page's local worker (Playwright's handle: ``evaluate`` runs in its scope)."""
    return next(w for w in page.workers if "local.worker" in w.url)


def q(page: Any, sql: str) -> Any:
    """``ducksync.query(sql)`` in the page: plain row objects."""
    return page.evaluate("(sql) => window.ducksync.query(sql)", sql)


def ex(page: Any, sql: str) -> None:
    """``ducksync.exec(sql)`` in the page."""
    page.evaluate("(sql) => window.ducksync.exec(sql)", sql)


def sync(page: Any, **options: Any) -> dict[str, Any]:
    """``ducksync.sync(options)`` in the page: the sync report."""
    result: dict[str, Any] = page.evaluate("(o) => window.ducksync.sync(o)", options)
    return result


def screenshot(page: Any, name: str) -> None:
    """Keep a picture of a state for a reviewer: ``test-results/screens/NAME.png`` (not
    committed). The page's full height, so a page that grows shows it."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "test-results" / "screens"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
