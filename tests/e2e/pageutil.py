"""The e2e tests' page helpers: thin names over the testing kit (``ducksync.testing``).

New tests use the kit's ``ducksync_server`` / ``ducksync_device`` fixtures (docs/testing.md);
these functions keep the older tests (and those written against them) working on a bare
Playwright page, with the kit doing the work: one readiness wait, one way to call the client.
"""

from __future__ import annotations

import logging
from typing import Any

from ducksync.testing.device import (
    DEFAULT_CLIENT,
    READY_TIMEOUT_MS,
    call_client,
    log_console,
    wait_client_ready,
)

log = logging.getLogger("ducksync.tests.e2e")
READY = "() => window.ducksync && document.body.dataset.ready === 'true'"
__all__ = ["READY", "READY_TIMEOUT_MS", "evaluate_error", "ex", "forward_console",
           "local_worker", "manual", "open_in_new_context", "q", "sync", "wait_ready"]


def manual(url: str) -> str:
    """The app's URL with automatic syncs off (``?sync=manual``: no sync at start, on the
    interval or after writes), for tests that count what each sync they ask for moves."""
    return url.rstrip("/") + "/?sync=manual"


def wait_ready(page: Any) -> Any:
    """Wait for the page's own readiness signal (both workers settled, UI wired): no sleeps."""
    wait_client_ready(page, client=DEFAULT_CLIENT, timeout_ms=READY_TIMEOUT_MS)
    return page


def open_in_new_context(browser: Any, url: str) -> Any:
    """A ready app page in a fresh browser context (own OPFS, own cache): one "device"."""
    page = browser.new_context().new_page()
    forward_console(page)
    page.goto(url)
    return wait_ready(page)


def forward_console(page: Any) -> None:
    """Page and worker console lines into the test log (shown for failing tests)."""
    page.on("console", lambda msg: log_console("browser", msg))
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
    return call_client(page, "query", sql)


def ex(page: Any, sql: str) -> None:
    """``ducksync.exec(sql)`` in the page."""
    call_client(page, "exec", sql)


def sync(page: Any, **options: Any) -> dict[str, Any]:
    """``ducksync.sync(options)`` in the page: the sync report."""
    result: dict[str, Any] = call_client(page, "sync", options)
    return result


def screenshot(page: Any, name: str) -> None:
    """Keep a picture of a state for a reviewer: ``test-results/screens/NAME.png`` (not
    committed). The page's full height, so a page that grows shows it."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "test-results" / "screens"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
