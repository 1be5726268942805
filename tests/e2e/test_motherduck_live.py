"""The ``motherduck`` transport against the real MotherDuck (needs a token and the internet).

Skipped unless ``MOTHERDUCK_TOKEN`` is set: the MotherDuck WASM client loads its assets
from app.motherduck.com at run time. Uses ``MOTHERDUCK_DATABASE`` (default ``my_db``)
and a table name unique to the run, dropped nowhere: inspect it in the MotherDuck UI.
The token goes into the page's ``connect`` call only, as an app would.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from pageutil import forward_console

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
from test_types import COLUMNS, ROW  # tests/engine is not a package

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


def on(page: Any, db: str, script: str, arg: Any = None) -> Any:
    return page.evaluate(f"async ([db, arg]) => {{ const c = window.__clients[db]; {script} }}",
                         [db, arg])


NO_TOKEN = ("MOTHERDUCK_TOKEN is not set (and the live test needs internet access to "
            "app.motherduck.com)")
# Every row of a table as text in key order: NaN equals NaN, every type comparable.
SNAPSHOT = "return (await c.query(`SELECT string_agg(r::VARCHAR, chr(10) ORDER BY r.id) AS s " \
           "FROM ${arg} r`))[0].s;"


@pytest.mark.skipif(not TOKEN, reason=NO_TOKEN)
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


@pytest.mark.skipif(not TOKEN, reason=NO_TOKEN)
def test_every_type_updates_cas_and_two_writers_through_motherduck(browser: Any,
                                                                   server_url: str) -> None:
    """What tests/server/test_cloud_standin_server.py proves through the server on the
    cloud stand-in, here through the browser's direct transport on the real service:
    every type, updates and a delete, a compare-and-swap conflict, two writers at once."""
    prefix = f"ducksync_live_{uuid.uuid4().hex[:8]}"
    types, rows = f"{prefix}_types", f"{prefix}_rows"
    tables = [types, rows]
    a, b = "opfs://live-all-a.duckdb", "opfs://live-all-b.duckdb"
    context = browser.new_context()
    pages = {a: context.new_page(), b: context.new_page()}
    try:
        for db, page in pages.items():
            forward_console(page)
            page.goto(server_url + "/readyz")
            assert page.evaluate(CONNECT, {"db": db, "token": TOKEN, "database": DATABASE})
        pa, pb = pages[a], pages[b]

        def synced(page: Any, db: str, **opts: Any) -> Any:
            return on(page, db, "return c.sync({tables: arg.tables, ...arg.opts});",
                      {"tables": tables, "opts": opts})

        on(pa, a, f"""
            await c.exec(`CREATE TABLE {types} (${{arg.columns}})`);
            await c.exec(`INSERT INTO {types} VALUES ${{arg.row}}`);
            await c.exec("INSERT INTO {types} (id) VALUES (2)");
            await c.exec("CREATE TABLE {rows} (id INTEGER PRIMARY KEY, v VARCHAR)");
            await c.exec("INSERT INTO {rows} SELECT i, 'v' || i FROM range(100) t(i)");""",
           {"columns": COLUMNS, "row": ROW})
        assert synced(pa, a)["pushed"] == 102
        assert synced(pb, b)["pulled"] == 102
        assert on(pa, a, SNAPSHOT, types) == on(pb, b, SNAPSHOT, types)

        on(pb, b, f"""
            await c.exec("UPDATE {rows} SET v = 'b' WHERE id < 5");
            await c.exec("DELETE FROM {rows} WHERE id = 99");
            await c.exec("INSERT INTO {rows} VALUES (100, 'new')");""")
        synced(pb, b)
        assert synced(pa, a)["pulled"] == 7
        assert on(pa, a, SNAPSHOT, rows) == on(pb, b, SNAPSHOT, rows)

        # compare-and-swap: both change row 50, B syncs first, A meets B's version
        on(pa, a, f"await c.exec(\"UPDATE {rows} SET v = 'from-a' WHERE id = 50\");")
        on(pb, b, f"await c.exec(\"UPDATE {rows} SET v = 'from-b' WHERE id = 50\");")
        synced(pb, b)
        loser = synced(pa, a, policy="remote-wins")
        assert loser["error"] is None, loser
        assert loser["conflicts"] + sum(t["cas_retries"] for t in loser["tables"]) >= 1, loser
        synced(pa, a)
        assert on(pa, a, f"return c.query('SELECT v FROM {rows} WHERE id = 50');") == \
            [{"v": "from-b"}]

        # two writers at once, disjoint rows: both land, no duplicates, no error
        on(pa, a, f"await c.exec(\"UPDATE {rows} SET v = 'a2' WHERE id BETWEEN 10 AND 19\");")
        on(pb, b, f"await c.exec(\"UPDATE {rows} SET v = 'b2' WHERE id BETWEEN 20 AND 29\");")
        for db, page in ((a, pa), (b, pb)):  # started together, awaited after
            page.evaluate("([db, tables]) => { window.__both = window.__clients[db].sync("
                          "{tables, policy: 'remote-wins'}); }", [db, tables])
        for page in (pa, pb):
            report = page.evaluate("() => window.__both")
            assert report["error"] is None, report
            assert all(t["error"] is None for t in report["tables"]), report
        for _ in range(2):
            synced(pa, a)
            synced(pb, b)
        assert on(pa, a, SNAPSHOT, rows) == on(pb, b, SNAPSHOT, rows)
        counts = on(pa, a, f"""return c.query(`SELECT count(*)::INTEGER AS n,
            count(DISTINCT id)::INTEGER AS k, count(*) FILTER (v = 'a2')::INTEGER AS a2,
            count(*) FILTER (v = 'b2')::INTEGER AS b2 FROM {rows}`);""")
        assert counts == [{"n": 100, "k": 100, "a2": 10, "b2": 10}], counts
    finally:
        context.close()
