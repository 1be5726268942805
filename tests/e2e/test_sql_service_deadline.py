"""The SQL service's per-call deadline (workers/sql_service.mjs), end to end.

The loopback stand-in (tests/e2e/loopback_sql.worker.mjs) never answers a statement that
names ``never_answers``, the way a hung remote would; its module URL sets a 1.5 s deadline.
A sync that reaches such a statement must report a typed error once the deadline passes,
after the statement was cancelled, and leave the store usable: the next sync works (the
store's lock was released, and no transaction was left open on the remote).
"""

from __future__ import annotations

from typing import Any

import pytest
from pageutil import forward_console

pytestmark = pytest.mark.browser

TOKEN = "loopback-good-token-4e1f"
DEADLINE_MS = 1500
SERVICE = f"/dist/loopback_sql.worker.js?call_timeout_ms={DEADLINE_MS}"

SETUP = """async ({token, service}) => {
  const m = await import("/dist/ducksync.js");
  const c = await m.connect({db: "opfs://deadline.duckdb", transport: "motherduck",
                             token, service});
  c.configureSync({interval: 0, onWrite: false});
  window.__c = c;
  await c.exec(`CREATE TABLE never_answers (id INTEGER PRIMARY KEY);
                INSERT INTO never_answers VALUES (1)`);
  await c.exec(`CREATE TABLE geese (id INTEGER PRIMARY KEY, name VARCHAR);
                INSERT INTO geese VALUES (1, 'brant')`);
}"""

TIMED_SYNC = """async (tables) => {
  const started = performance.now();
  try {
    // Bounded here too, so a missing deadline fails this test instead of hanging it.
    const guard = new Promise(
      (resolve) => setTimeout(() => resolve({outcome: "still waiting"}), 30000));
    const report = await Promise.race([window.__c.sync({tables}), guard]);
    return {ok: true, report, ms: performance.now() - started};
  } catch (e) {
    return {ok: false, name: e.name, code: e.code, message: e.message, hint: e.hint,
            ms: performance.now() - started};
  }
}"""


def test_a_hung_statement_is_cancelled_at_the_deadline_and_the_next_call_works(
        browser: Any, server_url: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    forward_console(page)
    page.goto(server_url + "/readyz")
    page.evaluate(SETUP, {"token": TOKEN, "service": SERVICE})

    hung = page.evaluate(TIMED_SYNC, ["never_answers"])
    # The sync resolves with its report (the table's error in it), it does not hang.
    assert hung["ok"] and hung["report"]["outcome"] == "error", hung
    error = hung["report"]["error"]
    assert error["code"] == "remote_unavailable" and error["name"] == "RemoteUnavailableError"
    assert f"did not answer within {DEADLINE_MS / 1000} s" in error["message"], error
    assert "the statement was cancelled" in error["message"], error  # cancelPendingQuery ran
    assert hung["ms"] >= DEADLINE_MS, hung

    # The lock is free and the remote connection is clean: the next sync goes through.
    after = page.evaluate(TIMED_SYNC, ["geese"])
    assert after["ok"] and after["report"]["pushed"] == 1, after
    tables = page.evaluate("async () => (await window.__c.remoteTables()).tables")
    names = [t["name"] for t in tables]
    assert "geese" in names and "never_answers" not in names
    context.close()
