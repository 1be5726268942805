"""The ``motherduck`` transport against the real MotherDuck (needs a token and the internet).

Skipped unless ``MOTHERDUCK_TOKEN`` is set: the MotherDuck WASM client loads its assets
from app.motherduck.com at run time. Uses ``MOTHERDUCK_DATABASE`` (default ``my_db``)
and a table name unique to the run, dropped nowhere: inspect it in the MotherDuck UI.
The token goes into the page's ``connect`` call only, as an app would.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from pageutil import forward_console

pytestmark = [pytest.mark.browser, pytest.mark.motherduck]

TOKEN = os.environ.get("MOTHERDUCK_TOKEN")
DATABASE = os.environ.get("MOTHERDUCK_DATABASE", "my_db")

CONNECT = """async ({db, token, database}) => {
  const m = await import("/dist/ducksync.js");
  const c = await m.connect({db, transport: "motherduck", token, database, autoSync: false});
  c.configureSync({interval: 0, onWrite: false});
  (window.__clients ??= {})[db] = c;
  return c.status().remote;
}"""


def on(page: Any, db: str, script: str) -> Any:
    return page.evaluate(f"async (db) => {{ const c = window.__clients[db]; {script} }}", db)


@pytest.mark.skipif(not TOKEN, reason="MOTHERDUCK_TOKEN is not set (and the live test needs "
                                      "internet access to app.motherduck.com)")
def test_two_devices_converge_through_motherduck(browser: Any, server_url: str) -> None:
    table = f"ducksync_live_{uuid.uuid4().hex[:8]}"
    context = browser.new_context()
    page = context.new_page()
    forward_console(page)
    page.goto(server_url + "/readyz")
    try:
        remote = page.evaluate(CONNECT, {"db": "opfs://live-a.duckdb", "token": TOKEN,
                                         "database": DATABASE})
        assert remote["remote"] == f"md:{DATABASE}"
        on(page, "opfs://live-a.duckdb", f"""
            await c.exec("CREATE TABLE {table} (id INTEGER PRIMARY KEY, v VARCHAR)");
            await c.exec("INSERT INTO {table} SELECT i, 'v' || i FROM range(100) t(i)");""")
        assert on(page, "opfs://live-a.duckdb",
                  f"return c.sync({{tables: ['{table}']}});")["pushed"] == 100
        on(page, "opfs://live-a.duckdb", "c.close();")
        page.evaluate(CONNECT, {"db": "opfs://live-b.duckdb", "token": TOKEN,
                                "database": DATABASE})
        assert on(page, "opfs://live-b.duckdb",
                  f"return c.sync({{tables: ['{table}']}});")["pulled"] == 100
    finally:
        context.close()
