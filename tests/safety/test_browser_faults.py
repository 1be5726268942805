"""The page goes away between two batches of a push; reopened, it converges.

A fault hook is installed in the local worker's engine (``ducksync.faults`` through the
worker's diagnostics handle): at the chosen point it logs a line and stops the worker
dead (a busy loop: no later statement, no cleanup), the test sees the line and then
reloads or closes the page — the browser terminates the frozen worker mid-push. The
reopened page syncs again; the server's keys and a second device's fresh copy must
equal the first device's table: nothing lost, nothing duplicated.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pyarrow as pa
import pytest
from pageutil import ex, forward_console, local_worker, q, wait_ready

pytestmark = pytest.mark.browser

MANUAL = "window.ducksync.configureSync({interval: 0, onWrite: false})"
ROWS, BATCH = 10_000, 2_000  # five ranges in the bulk push
ARM = """(fault) => self.ducksyncDiagnostics.pyodide.runPython(`
import js
from ducksync import faults

_point, _, _nth = ${fault}.partition(":")
_seen = [0]

def _freeze(name):
    if name != _point:
        return
    _seen[0] += 1
    if _seen[0] == int(_nth or 1):
        js.console.log("ducksync-fault-reached " + name)
        while True:  # the worker stops here until the browser terminates it
            pass

faults.install(_freeze)
`)"""


@pytest.fixture
def device(browser: Any, server_url: str) -> Iterator[Any]:
    """``device()`` -> a ready page in a fresh context (its own OPFS): one device; the
    same context's pages share its OPFS (a reopened tab)."""
    contexts: list[Any] = []

    def open_(context: Any = None) -> Any:
        if context is None:
            context = browser.new_context()
            contexts.append(context)
        page = context.new_page()
        forward_console(page)
        page.goto(server_url)
        wait_ready(page)
        page.evaluate(MANUAL)
        return page

    yield open_
    for context in contexts:
        context.close()


def remote_keys(server_url: str, table: str) -> list[int]:
    response = httpx.post(f"{server_url}/api/v1/sync/tables/{table}/hashes",
                          json={"key": ["id"], "modulus": 1, "buckets": []}, timeout=60)
    response.raise_for_status()
    return sorted(pa.ipc.open_stream(response.content).read_all().column("id").to_pylist())


def push_until_fault(page: Any, table: str, fault: str) -> None:
    """Start a push of ``table`` with the worker armed to freeze at ``fault``; return
    once it froze there."""
    local_worker(page).evaluate(ARM.replace("${fault}", repr(fault)))
    with page.expect_console_message(lambda m: "ducksync-fault-reached" in m.text,
                                     timeout=60_000):
        page.evaluate("""([t, rows]) => { window.__push = window.ducksync.sync(
            {tables: [t], direction: "push", batchRows: rows}).catch((e) => e); }""",
                      [table, BATCH])


def converged_everywhere(page: Any, other: Any, server_url: str, table: str) -> None:
    report = page.evaluate("(t) => window.ducksync.sync({tables: [t]})", table)
    assert report["converged"], report
    order = f"SELECT * FROM {table} ORDER BY id"
    mine = q(page, order)
    assert len(mine) == ROWS and len({r["id"] for r in mine}) == ROWS
    assert remote_keys(server_url, table) == list(range(ROWS))  # none lost, none twice
    pulled = other.evaluate("(t) => window.ducksync.sync({tables: [t], direction: 'pull'})",
                            table)
    assert pulled["converged"] and pulled["pulled"] == ROWS, pulled
    assert q(other, order) == mine


def seed(page: Any, table: str) -> None:
    ex(page, f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, v VARCHAR, n DOUBLE)")
    ex(page, f"INSERT INTO {table} SELECT range, 'row ' || range, range / 7 FROM range({ROWS})")


def test_reload_after_a_batch_committed_but_before_it_was_recorded(
        device: Any, server_url: str) -> None:
    page = device()
    seed(page, "bf_reload")
    push_until_fault(page, "bf_reload", "push.record:2")
    page.reload()
    wait_ready(page)
    page.evaluate(MANUAL)
    converged_everywhere(page, device(), server_url, "bf_reload")


def test_tab_closed_between_two_recorded_batches(device: Any, server_url: str) -> None:
    page = device()
    seed(page, "bf_close")
    push_until_fault(page, "bf_close", "push.record.done:2")
    context = page.context
    page.close()
    reopened = device(context)  # same context: same OPFS, the tab opened again
    converged_everywhere(reopened, device(), server_url, "bf_close")
