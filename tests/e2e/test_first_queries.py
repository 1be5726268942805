"""A new user's first steps in the page: the sample query, an extension that is not
bundled, a statement that crashes DuckDB's WebAssembly (restarted, database reopened,
no page reload), and the schema browser following DDL and DML. One page for the module;
its context blocks service workers and aborts every extension download, so "not
available" is what any machine sees."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pageutil import (
    evaluate_error,
    ex,
    forward_console,
    local_worker,
    q,
    screenshot,
    sync,
    wait_ready,
)

pytestmark = pytest.mark.browser

AT_TIME_ZONE = "SELECT TIMESTAMP '2024-01-01 12:00' AT TIME ZONE 'Europe/Paris' AS paris"


@pytest.fixture(scope="module")
def page(browser: Any, server_url: str) -> Iterator[Any]:
    context = browser.new_context(service_workers="block")
    context.route("**/*.duckdb_extension.wasm", lambda route: route.abort())
    page = context.new_page()
    forward_console(page)
    page.goto(server_url + "/?sync=manual")
    yield wait_ready(page)
    context.close()


def test_the_sample_query_uses_only_what_is_bundled(page: Any) -> None:
    sample = page.evaluate("window.ducksyncConsole.text()")  # the console's editor
    rows = q(page, sample)
    assert len(rows) == 1 and rows[0]["answer"] == 42


def test_a_missing_extension_is_named_once_and_install_does_not_pretend(page: Any) -> None:
    err = evaluate_error(page, "window.ducksync.query('SELECT current_date AS today')")
    assert err["code"] == "query"
    assert err["message"].startswith("current_date needs DuckDB's icu extension, which is "
                                     "not loaded: this page's DuckDB bundles only its core")
    assert "INSTALL" not in err["message"]
    err = evaluate_error(page, "window.ducksync.exec('INSTALL icu')")
    assert err["rejected"] and err["message"].startswith(
        "DuckDB's icu extension could not be loaded"), err


def test_a_wasm_crash_restarts_duckdb_without_a_reload_and_keeps_the_data(page: Any) -> None:
    ex(page, "CREATE TABLE crash_kept (id INTEGER PRIMARY KEY, v VARCHAR)")
    ex(page, "INSERT INTO crash_kept VALUES (1, 'before'), (2, 'before')")
    assert sync(page, tables=["crash_kept"])["pushed"] == 2
    generation = "self.ducksyncDiagnostics.duckdb.then((db) => db.generation)"
    before = local_worker(page).evaluate(generation)
    page.evaluate("() => { window.__restarted = []; window.__pageId = 'same page'; "
                  "window.ducksync.on('restarted', (e) => window.__restarted.push(e)); }")

    err = evaluate_error(page, f"window.ducksync.query({AT_TIME_ZONE!r})")
    assert err["code"] == "duckdb_crashed" and err["name"] == "DuckDBCrashedError"
    assert "DuckDB crashed running this query" in err["message"]
    assert "restarted and the database reopened" in err["message"]
    assert "icu extension" in err["message"]
    assert local_worker(page).evaluate(generation) == before + 1
    page.wait_for_function("() => window.__restarted.length === 1")
    assert page.evaluate("window.__pageId") == "same page"  # no reload

    ex(page, "INSERT INTO crash_kept VALUES (3, 'after')")  # writable again
    ex(page, "DELETE FROM crash_kept WHERE id = 2")
    assert q(page, "SELECT id, v FROM crash_kept ORDER BY id") == [
        {"id": 1, "v": "before"}, {"id": 3, "v": "after"}]
    # the sync's own connection was reopened with its setup (scratch catalog): a delta
    # sync after the restart sends both changes
    report = sync(page, tables=["crash_kept"])
    assert report["tables"][0]["error"] is None and report["pushed"] == 2, report
    assert page.inner_text("#schema-note").startswith("DuckDB crashed (")

    # a trap on another connection (an import's) restarts it too; the import is refused whole
    err = evaluate_error(page, "window.ducksync.import(new Blob(['CREATE TABLE tz_import "
                               "(t TIMESTAMP);\\nINSERT INTO tz_import SELECT timezone("
                               "\\'Europe/Paris\\', TIMESTAMP \\'2024-01-01\\');\\n']))")
    assert err["code"] == "backup" and "nothing was imported" in err["message"], err
    assert local_worker(page).evaluate(generation) == before + 2
    page.wait_for_function("() => window.__restarted.length === 2")
    assert q(page, "SELECT count(*)::INT AS n FROM crash_kept") == [{"n": 2}]


def attr(page: Any, selector: str, name: str, value: str) -> None:
    page.wait_for_function("([s, n, v]) => document.querySelector(s)?.getAttribute(n) === v",
                           arg=[selector, name, value])


def text(page: Any, selector: str, value: str) -> None:
    page.wait_for_function("([s, v]) => document.querySelector(s)?.textContent === v",
                           arg=[selector, value])


def test_the_schema_browser_follows_ddl_and_dml_and_counts_exactly(page: Any) -> None:
    birds = '#schema-local details[data-schema="main"][data-table="schema_birds"]'
    keepers = '#schema-local details[data-schema="zoo"][data-table="keepers"]'
    remote = '#schema-remote-tables tr[data-table="schema_birds"] td'
    ex(page, "CREATE SCHEMA zoo")
    ex(page, "CREATE TABLE zoo.keepers (name VARCHAR)")
    ex(page, "CREATE TABLE schema_birds (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL)")
    ex(page, "INSERT INTO schema_birds SELECT range, 'duck ' || range FROM range(9)")
    attr(page, birds, "data-rows", "9")  # redrawn after the write: no sync, no click
    summary = page.inner_text(birds + " summary")
    assert "9 rows" in summary and "key id" in summary and "not synced yet" in summary
    assert "only the main schema syncs" in page.inner_text(keepers + " summary")
    page.click(birds + " summary")  # its columns, with DuckDB's type names
    columns = page.inner_text(birds + " table")
    assert "id (key)\tINTEGER\tNOT NULL" in columns and "name\tVARCHAR\tNOT NULL" in columns

    assert sync(page, tables=["schema_birds"])["pushed"] == 9
    text(page, birds + " .schema-sync", "synced")  # redrawn after the sync
    ex(page, "DELETE FROM schema_birds WHERE id >= 4")
    attr(page, birds, "data-rows", "4")
    page.click("#schema-refresh")
    text(page, birds + " .schema-sync", "5 changes not sent")
    assert sync(page, tables=["schema_birds"])["pushed"] == 5
    # the server deleted 5 of 9 rows: DuckDB's estimate still says 9, the list says 4
    page.wait_for_function("(s) => document.querySelector(s)?.textContent === '4'", arg=remote)
    assert page.get_attribute(birds, "open") is not None  # kept open across redraws
    screenshot(page, "schema-browser")
