"""A new device in the page: it holds the remote tables it subscribed to, bootstraps
them, and a reload mid-bootstrap resumes (engine/bootstrap.py, engine/subscriptions.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pageutil import local_worker, q, wait_ready
from playwright.sync_api import expect

from serverutil import RunningServer, running_server

pytestmark = pytest.mark.browser

TABLES = ("boot_a", "boot_b", "boot_c", "boot_d")  # held by the new device
ROWS = {"boot_a": 300, "boot_b": 2000, "boot_c": 200, "boot_d": 100, "boot_e": 10}


@pytest.fixture(scope="module")
def four_tables(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose remote file already holds four tables with primary keys."""
    import duckdb

    tmp: Path = tmp_path_factory.mktemp("bootstrap")
    with duckdb.connect(str(tmp / "remote.duckdb")) as con:
        for t in ROWS:  # boot_e: offered by the server, not held by the device
            con.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR, w DOUBLE)")
            con.execute(f"INSERT INTO {t} SELECT range, '{t} ' || range, range / 7 "
                        f"FROM range({ROWS[t]})")
    with running_server(tmp) as running:
        yield running


def _local_tables(page: Any) -> list[str]:
    return [r["n"] for r in q(page, "SELECT table_name AS n FROM duckdb_tables() WHERE "
                                    "schema_name = 'main' AND NOT temporary ORDER BY 1")]


# What each table holds, in one row, computed alike natively and in the page.
FINGERPRINT = ("SELECT count(*)::INTEGER AS n, md5(string_agg(id || ':' || name || ':' || "
               "round(w * 7)::BIGINT, ',' ORDER BY id)) AS h FROM {t}")
EXPECTED = "SELECT range AS id, '{t} ' || range AS name, range / 7 AS w FROM range({n})"
# Each synced table's declared primary key and the one it is still owed (bootstrap.py).
KEYS = ("SELECT s.name AS t, (SELECT array_to_string(constraint_column_names, ',') FROM "
        "duckdb_constraints() c WHERE c.table_name = s.name AND c.schema_name = 'main' AND "
        "constraint_type = 'PRIMARY KEY') AS pk, array_to_string(s.pending_key, ',') AS owed "
        "FROM ducksync.tables s ORDER BY 1")
PROGRESS_JS = """() => { window.__progress = [];
  window.ducksync.on("progress", (p) => window.__progress.push(p)); }"""
START_JS = """() => { window.__run = null; window.ducksync.sync({direction: "pull", batchRows: 100})
  .then((r) => { window.__run = r; }, (e) => { window.__run = {error: String(e)}; }); }"""


def _expected(t: str) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE TABLE {t} AS {EXPECTED.format(t=t, n=ROWS[t])}")
    n, h = con.execute(FINGERPRINT.format(t=t)).fetchone()  # type: ignore[misc]
    return {"n": n, "h": h}


def test_a_new_device_bootstraps_four_tables_and_a_reload_mid_way_resumes(
        open_app: Any, four_tables: Any) -> None:
    # connect({tables}): the page's ?tables=; boot_e, not listed, is never pulled
    page = open_app(four_tables.url + "/?sync=manual&tables=" + ",".join(TABLES))
    page.evaluate(PROGRESS_JS)
    page.evaluate(START_JS)  # the tables it holds, in pages of 100 rows
    # boot_a arrived whole and boot_b is under way: the page answers queries meanwhile
    page.wait_for_function("window.__progress.some((p) => p.table === 'boot_b' && "
                           "p.rows_done >= 200)", timeout=90_000)
    assert q(page, FINGERPRINT.format(t="boot_a")) == [_expected("boot_a")]
    progress = page.evaluate("window.__progress")
    a = [p for p in progress if p["table"] == "boot_a"]
    assert a[-1]["rows_done"] == a[-1]["rows_total"] == ROWS["boot_a"] and a[-1]["bytes_done"]
    assert any(p["eta_s"] is not None for p in a)  # time left, shown while rows arrive
    assert page.evaluate("window.__run") is None  # still running: reload now

    page.reload()
    wait_ready(page)
    held = q(page, "SELECT count(*)::INTEGER AS n FROM boot_b")[0]["n"]
    cursor = q(page, "SELECT boot_cursor AS c FROM ducksync.tables WHERE name = 'boot_b'")
    assert 200 <= held < ROWS["boot_b"] and cursor == [{"c": str(held - 1)}]
    # created without its key (cheaper pages), the key owed; boot_a's was added at its end
    assert q(page, KEYS) == [{"t": "boot_a", "pk": "id", "owed": None},
                             {"t": "boot_b", "pk": None, "owed": "id"}]
    # and the page says so: the key it gets, not "no primary key" (was, while it synced)
    listed = {t["table"]: t for t in page.evaluate("() => window.ducksync.syncTables()")}
    assert (listed["boot_b"]["primary_key"], listed["boot_b"]["key_pending"]) == (["id"], True)
    assert (listed["boot_a"]["primary_key"], listed["boot_a"]["key_pending"]) == (["id"], False)
    expect(page.locator('#schema-local details[data-table="boot_b"] .schema-key')).to_have_text(
        "key id (added when every row is here)")
    # written here meanwhile, as the remote has it: a key the resumed pages bring too;
    # adding the key keeps this row and drops the page's copy (DuckDB-WASM runs that SQL)
    q(page, f"INSERT INTO boot_b VALUES ({ROWS['boot_b'] - 1}, 'boot_b {ROWS['boot_b'] - 1}', "
            f"{ROWS['boot_b'] - 1} / 7)")
    report = page.evaluate("() => window.ducksync.sync({direction: 'pull', batchRows: 100})")
    assert report["converged"], report["error"]
    pulled = {t["table"]: t["pulled"] for t in report["tables"]}
    boot_b = next(t for t in report["tables"] if t["table"] == "boot_b")
    assert "bootstrap" in boot_b["paths"] and boot_b["bytes_sent"] < 100 * 30  # cursors only
    # resumed where it stopped (never from zero, never a key twice), the rest whole
    assert pulled == {"boot_a": 0, "boot_b": ROWS["boot_b"] - held,
                      "boot_c": ROWS["boot_c"], "boot_d": ROWS["boot_d"]}
    for t in TABLES:
        assert q(page, FINGERPRINT.format(t=t)) == [_expected(t)], t
    assert _local_tables(page) == list(TABLES)  # boot_e is not held
    assert q(page, KEYS) == [{"t": t, "pk": "id", "owed": None} for t in TABLES]

    # unsubscribing (dropping the copy here) never deletes a remote row
    assert page.evaluate("() => window.ducksync.unsubscribe('boot_d', {keepLocal: false})") \
        == {"all": False, "held": ["boot_a", "boot_b", "boot_c"], "not_held": ["boot_d"]}
    assert _local_tables(page) == ["boot_a", "boot_b", "boot_c"]
    assert page.evaluate("() => window.ducksync.sync()")["converged"]
    remote = page.evaluate("() => window.ducksync.remoteTables()")
    assert {t["name"]: t["rows"] for t in remote["tables"]}["boot_d"] == ROWS["boot_d"]
    assert _local_tables(page) == ["boot_a", "boot_b", "boot_c"]  # not pulled back
    # the page's list of server tables: a "hold here" checkbox each; ticking one holds it
    box = '#remote-tables-body input[data-table="{}"]'
    page.wait_for_selector(box.format("boot_d") + ":not(:checked)")
    assert page.is_checked(box.format("boot_a")) and not page.is_checked(box.format("boot_e"))
    page.check(box.format("boot_d"))
    page.wait_for_function("async () => (await window.ducksync.subscriptions())"
                           ".held.includes('boot_d')")
    assert page.evaluate("() => window.ducksync.sync()")["converged"]
    assert q(page, FINGERPRINT.format(t="boot_d")) == [_expected("boot_d")]


# Installed in the local worker's Python: each page asked for (the port's call) and each
# page loaded here (its ingest done), in order, and each read of a page's end.
RECORD_PAGES = r'''
import sync_worker as _sw
from ducksync.worker import port_store as _ps

_ds_pages = []
_call0 = _ps.PortRemoteStore.call
async def _call(self, method, args, ipc=None):
    if method == "fetch_rows_after":
        _ds_pages.append("asked")
    return await _call0(self, method, args, ipc)
_ps.PortRemoteStore.call = _call

_ingest0 = _sw.WasmLocalStore.ingest_arrow
async def _ingest(self, table, ipc, *, append=False):
    await _ingest0(self, table, ipc, append=append)
    _ds_pages.append("loaded")
_sw.WasmLocalStore.ingest_arrow = _ingest

_q0 = _sw.WasmLocalStore._q
async def _q(self, start, sql):
    if "CAST(max(" in sql:
        _ds_pages.append("read its end")
    return await _q0(self, start, sql)
_sw.WasmLocalStore._q = _q
'''


def test_the_page_asks_for_the_next_page_before_loading_this_one(
        open_app: Any, four_tables: Any) -> None:
    """The server tells each page's rows and last key with it (response headers, through
    the remote worker's reply to the port store), so the page's store, which cannot read
    a page aside, asks for the next page as a page arrives and loads it only in its
    commit. Before, it loaded each page and read its last key first (docs/benchmarks.md,
    session 14, page)."""
    page = open_app(four_tables.url + "/?sync=manual&tables=boot_b")
    worker = local_worker(page)
    run_py = "(code) => self.ducksyncDiagnostics.pyodide.runPython(code)"
    worker.evaluate(run_py, RECORD_PAGES)
    report = page.evaluate("() => window.ducksync.sync({direction: 'pull', batchRows: 300})")
    assert report["converged"], report["error"]
    assert "bootstrap-settled" in report["tables"][0]["paths"]
    assert q(page, FINGERPRINT.format(t="boot_b")) == [_expected("boot_b")]
    events = json.loads(worker.evaluate(run_py, "import json; json.dumps(_ds_pages)"))
    asked = [i for i, e in enumerate(events) if e == "asked"]
    loaded = [i for i, e in enumerate(events) if e == "loaded"]
    assert len(asked) == len(loaded) >= 3, events
    assert all(asked[k + 1] < loaded[k] for k in range(len(asked) - 1)), events
    assert "read its end" not in events
