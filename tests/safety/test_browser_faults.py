"""The page goes away between two batches of a push; reopened, it converges.

A fault hook is installed in the local worker's engine (``ducksync.faults`` through the
worker's diagnostics handle): at the chosen point it logs a line and stops the worker
dead (a busy loop: no later statement, no cleanup), the test sees the line and then
reloads or closes the page — the browser terminates the frozen worker mid-push. The
reopened page syncs again; the server's keys and a second device's fresh copy must
equal the first device's table: nothing lost, nothing duplicated.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pyarrow as pa
import pytest
from pageutil import ex, forward_console, local_worker, manual, q, wait_ready

pytestmark = pytest.mark.browser

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
        page.goto(manual(server_url))  # no sync at start: the test's syncs only
        wait_ready(page)
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


# (how the page goes away, where the worker froze). ``make soak`` sets
# DUCKSYNC_SAFETY_BROWSER_SOAK=1: both ways at each batch of the push, answered or recorded.
FAULTS = [("reload", "push.record:2"),  # a batch committed remotely, not yet recorded
          ("close", "push.record.done:2")]  # between two recorded batches
if os.environ.get("DUCKSYNC_SAFETY_BROWSER_SOAK") == "1":
    FAULTS = [(how, f"{point}:{k}") for how in ("reload", "close")
              for point in ("push.remote_apply", "push.record", "push.record.done")
              for k in range(1, ROWS // BATCH + 1)]


@pytest.mark.parametrize(("how", "fault"), FAULTS)
def test_the_page_goes_away_mid_push_and_converges_when_reopened(
        device: Any, server_url: str, how: str, fault: str) -> None:
    table = f"bf_{how}_{fault.replace('.', '_').replace(':', '_')}"
    page = device()
    seed(page, table)
    push_until_fault(page, table, fault)
    if how == "reload":
        page.reload()  # the same URL: still no automatic syncs
        wait_ready(page)
    else:  # every tab of the device closed, then one opened again (same OPFS)
        context = page.context
        page.close()
        page = device(context)
    converged_everywhere(page, device(), server_url, table)
