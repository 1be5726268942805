"""The SQL console in real Chromium: editor, paged grid, history, cancel, DuckDB's values.

One page (one browser context, in a time zone that is not UTC) for the whole module:
booting the workers is the expensive part. Screenshots of the main states go to
``test-results/console-*.png`` for a reviewer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pageutil import forward_console, q, wait_ready

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-results"
TIME_ZONE = "Asia/Kolkata"  # +05:30 all year: TIMESTAMPTZ must show in it


@pytest.fixture(scope="module")
def page(browser: Any, module_server: Any) -> Iterator[Any]:
    context = browser.new_context(timezone_id=TIME_ZONE, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    app = context.new_page()
    forward_console(app)
    app.goto(module_server.url.rstrip("/") + "/?sync=manual")
    yield wait_ready(app)
    context.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=True)


def run(page: Any, sql: str, *, cursor: int | None = None, button: str = "#run") -> str:
    """Type ``sql`` into the editor, run it, and return the summary line once it is done."""
    page.evaluate("([s, c]) => window.ducksyncConsole.setText(s, c ?? s.length)", [sql, cursor])
    page.click(button)
    page.wait_for_function("document.getElementById('console').dataset.state === 'idle' && "
                           "!document.getElementById('run').disabled")
    return str(page.locator("#summary").inner_text())


def headers(page: Any) -> list[str]:
    return [t.replace("\n", " ") for t in page.locator("#results th").all_inner_texts()]


def cells(page: Any) -> list[list[str]]:
    """The grid's drawn rows, once their page arrived (a row still loading is one '…' cell)."""
    page.wait_for_function("!document.querySelector('#results td.loading')")
    return page.evaluate("""() => [...document.querySelectorAll('#results tbody tr[data-row]')]
        .map((tr) => [...tr.cells].map((td) => td.classList.contains('null') ? null
                                                : td.textContent))""")


def test_the_sample_query_runs_and_ddl_dml_read_as_sentences(page: Any) -> None:
    page.click("#run")  # the sample the editor starts with
    page.wait_for_function("/row/.test(document.getElementById('summary').textContent)")
    assert re.fullmatch(r"1 row in [\d,]+ ms\.", page.locator("#summary").inner_text())
    assert headers(page) == ["answer INTEGER", "animal VARCHAR", "duckdb VARCHAR"]
    assert cells(page)[0][:2] == ["42", "duck"]
    shot(page, "sample")
    done = run(page, "CREATE OR REPLACE TABLE c_t (i INTEGER)")
    assert re.fullmatch(r"Done in [\d,]+ ms\.", done)
    assert headers(page) == []  # no "Success" column, no "0 rows"
    assert page.locator("#result-actions").is_hidden()  # nothing to copy or download
    # the page's schema panel follows DDL run in the console
    page.wait_for_function("document.getElementById('schema-local').textContent.includes('c_t')")
    # the editor highlights SQL and completes the new table's name
    assert page.locator(".cm-content .cm-line span").count() > 0
    page.evaluate("window.ducksyncConsole.setText('SELECT * FROM c_')")
    page.locator(".cm-content").press("Control+Space")
    page.wait_for_selector(".cm-tooltip-autocomplete li:has-text('c_t')")
    page.keyboard.press("Escape")
    assert run(page, "INSERT INTO c_t VALUES (1)").startswith("1 row inserted in ")
    assert run(page, "INSERT INTO c_t VALUES (2), (3)").startswith("2 rows inserted in ")
    # a DELETE after a WITH clause is a delete (was "1 row in ..." with a Count grid)
    assert run(page, "WITH gone AS (SELECT 3 AS i) DELETE FROM c_t WHERE i IN "
                     "(SELECT i FROM gone)").startswith("1 row deleted in ")
    assert run(page, "INSERT INTO c_t VALUES (3)").startswith("1 row inserted in ")
    # several statements: the last one's result; Ctrl+Enter runs the one under the cursor
    assert run(page, "SELECT 1 AS a; SELECT count(*) AS n FROM c_t;").startswith("1 row in ")
    assert headers(page) == ["n BIGINT"] and cells(page) == [["3"]]
    text = "SELECT 'first' AS x;\nSELECT 'second' AS y;"
    page.evaluate("([s, c]) => window.ducksyncConsole.setText(s, c)", [text, 3])
    page.locator(".cm-content").press("Control+Enter")
    page.wait_for_function("document.querySelector('#results th')?.textContent.startsWith('x')")
    assert cells(page) == [["first"]]
    # Run with a selection runs the selection
    page.evaluate("([s, a, b]) => { const c = window.ducksyncConsole; c.setText(s); "
                  "c.editor.dispatch({selection: {anchor: a, head: b}}); }",
                  [text, text.index("SELECT 'second'"), len(text) - 1])
    page.click("#run")
    page.wait_for_function("document.querySelector('#results th')?.textContent.startsWith('y')")
    run(page, "SELECT * FROM nowhere")
    error = page.locator("#error")
    assert "DuckDB could not run this SQL." in error.inner_text()
    assert "nowhere" in error.inner_text()
    assert "__ds_console" not in error.inner_text()
    shot(page, "error")
    # a typo reads as DuckDB's text (was its error JSON: {"exception_type":"Parser",...})
    run(page, "SELEC 1")
    assert 'Parser Error: syntax error at or near "SELEC"' in error.inner_text()
    assert "exception_type" not in error.inner_text()
    # WITH … DELETE is no query: it runs as it is (was: a parser error naming __ds_console)
    run(page, "WITH d AS (SELECT 2 AS i) DELETE FROM c_t WHERE i IN (SELECT i FROM d)")
    assert error.is_hidden()
    assert page.evaluate("window.ducksync.query('SELECT list(i ORDER BY i) AS i FROM c_t')"
                         ) == [{"i": [1, 3]}]
    # no sync ran yet on this page (?sync=manual): a missing table may be on its way
    missing = page.evaluate("""() => window.ducksync.query('SELECT * FROM on_its_way')
        .then(() => null, (e) => e.hint)""")
    assert missing and "first sync" in missing, missing
    # a function of an extension this build lacks: named, with the way out (as page SQL)
    run(page, "SELECT current_date")
    assert "icu" in error.inner_text()


def test_a_million_rows_show_their_first_page_in_a_bounded_grid(page: Any) -> None:
    run(page, "EXPLAIN SELECT 1")  # a raw answer (drawn whole) first: pages stay 200 rows
    height_before = page.evaluate("document.documentElement.scrollHeight")
    started = page.evaluate("performance.now()")
    summary = run(page, "SELECT * FROM range(1000000)")
    shown_ms = page.evaluate("performance.now()") - started
    # the view is drawn from the page that came with the run: no page asked for yet
    assert page.locator("#results").get_attribute("data-fetched") == "0"
    assert summary.startswith("1,000,000 rows in ")
    assert page.locator("#results").get_attribute("data-total") == "1000000"
    drawn = page.locator("#results tbody tr[data-row]").count()
    assert 0 < drawn <= 100  # only the rows in view (+ overscan) are in the DOM
    assert page.evaluate("document.querySelector('.grid-scroll').clientHeight") <= 480
    assert page.evaluate("document.documentElement.scrollHeight") <= height_before + 520
    # scroll half-way, then to the end: those pages are fetched from the worker and drawn
    for where, near in (("/ 2", 500_000), ("", 999_999)):
        page.evaluate(f"(() => {{ const s = document.querySelector('.grid-scroll'); "
                      f"s.scrollTop = (s.scrollHeight - s.clientHeight) {where}; }})()")
        page.wait_for_function("(n) => [...document.querySelectorAll('#results tr[data-row]')]"
                               ".some((tr) => Math.abs(tr.dataset.row - n) < 30 "
                               "&& !tr.querySelector('.loading'))", arg=near)
        drawn_rows = page.evaluate("[...document.querySelectorAll('#results tr[data-row]')]"
                                   ".filter((tr) => !tr.querySelector('.loading'))"
                                   ".map((tr) => [tr.dataset.row, tr.cells[0].textContent])")
        assert drawn_rows and all(row == value for row, value in drawn_rows)
        assert len(drawn_rows) <= 100
    assert drawn_rows[-1] == ["999999", "999999"]  # the last row is reachable
    top = "(s) => document.querySelector(s).getBoundingClientRect().top"
    header_top = page.evaluate(top, "#results th")
    scroller_top = page.evaluate(top, ".grid-scroll")
    assert abs(header_top - scroller_top) < 2  # the header sticks
    shot(page, "million-rows")
    print(f"range(1000000): first page shown {shown_ms:.0f} ms after Run")


def test_copy_as_tsv_csv_markdown(page: Any) -> None:
    run(page, "SELECT 1 AS i, 'a,b' AS s UNION ALL SELECT 2, NULL ORDER BY i")
    expected = {"tsv": "i\ts\n1\ta,b\n2\tNULL\n", "csv": 'i,s\r\n1,"a,b"\r\n2,\r\n',
                "markdown": "| i | s |\n|---|---|\n| 1 | a,b |\n| 2 | NULL |\n"}
    for fmt, text in expected.items():
        page.click(f"#copy-{fmt}")
        page.wait_for_function("(f) => document.getElementById('summary').dataset.copied === f",
                               arg=fmt)
        assert page.evaluate("navigator.clipboard.readText()") == text
    # downloads hold the whole result, from the worker
    run(page, "SELECT i, i * 2 AS j FROM range(5000) t(i)")
    with page.expect_download() as csv_download:
        page.click("#download-result-csv")
    lines = Path(csv_download.value.path()).read_text().splitlines()
    assert lines[:2] == ["i,j", "0,0"] and len(lines) == 5001
    with page.expect_download() as arrow_download:
        page.click("#download-result-arrow")
    assert Path(arrow_download.value.path()).read_bytes()[:6] == b"ARROW1"
    # a multi-line answer (EXPLAIN's plan) keeps its lines
    run(page, "EXPLAIN SELECT 1")
    assert page.locator("#results table.grid.pre").count() == 1
    assert "\n" in page.locator("#results tr[data-row] td").last.inner_text()


def test_history_is_kept_in_the_database_searchable_and_runs_again(page: Any) -> None:
    """(That it survives a reload: tests/e2e/test_app.py, whose page reloads anyway.)"""
    marker = "SELECT 'history kept' AS marker"
    run(page, marker)
    run(page, "SELECT 'something else' AS other")
    page.fill("#history-search", "HISTORY KEPT")
    page.wait_for_function("(m) => [...document.querySelectorAll('#history-list code')]"
                           ".map((c) => c.textContent).join('|') === m", arg=marker)
    rows = q(page, "SELECT sql FROM ducksync.console_history ORDER BY id DESC LIMIT 2")
    assert rows == [{"sql": "SELECT 'something else' AS other"}, {"sql": marker}]
    page.locator("#history-list li").first.get_by_role("button", name="Run again").click()
    page.wait_for_function("document.querySelector('#results tr[data-row] td')?.textContent"
                           " === 'history kept'")
    shot(page, "history")
    page.fill("#history-search", "")


def test_a_long_query_is_cancelled_while_other_queries_and_a_sync_go_on(page: Any) -> None:
    page.evaluate("window.ducksync.exec('CREATE OR REPLACE TABLE c_sync "
                  "(id INTEGER PRIMARY KEY, v VARCHAR)')")
    page.evaluate("window.ducksync.exec(\"INSERT INTO c_sync VALUES (1, 'a')\")")
    page.evaluate("([s]) => window.ducksyncConsole.setText(s)",
                  ["SELECT count(*) FROM range(100000000000) a"])
    page.click("#run")
    page.wait_for_function("document.getElementById('console').dataset.state === 'running'")
    # while it runs: the page's API answers and a sync completes
    assert q(page, "SELECT 7 AS seven") == [{"seven": 7}]
    report = page.evaluate("window.ducksync.sync({tables: ['c_sync']})")
    assert report["outcome"] == "ok" and report["pushed"] == 1, report["error"]
    assert page.evaluate("document.getElementById('console').dataset.state") == "running"
    shot(page, "running")
    page.click("#cancel")
    page.wait_for_function("document.getElementById('console').dataset.state === 'idle'")
    assert page.locator("#error").get_attribute("data-kind") == "cancelled"
    assert page.locator("#error").inner_text().startswith("Cancelled.")
    shot(page, "cancelled")
    assert run(page, "SELECT 1 AS after").startswith("1 row in ")


def test_every_type_of_test_all_types_shows_as_duckdb_prints_it(page: Any) -> None:
    run(page, "SELECT * FROM test_all_types()")
    shown_types = [h.split(" ", 1) for h in headers(page)]
    shown = cells(page)
    assert len(shown) == 3
    # a wide result scrolls inside its grid: the page keeps the viewport's width
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "all-types")
    names = [n for n, _ in shown_types]
    with duckdb.connect() as con:  # native DuckDB (newer: it has a few more columns)
        con.execute(f"SET TimeZone = '{TIME_ZONE}'")
        native = con.execute("SELECT * FROM test_all_types()")
        native_types = {d[0]: str(d[1]) for d in native.description or []}
        common = [n for n in names if n in native_types]
        expected = con.execute("SELECT " + ", ".join(
            f'CAST("{c}" AS VARCHAR)' for c in common) + " FROM test_all_types()").fetchall()
    assert len(common) >= len(names) - 2, set(names) - set(common)
    assert [len(r) for r in shown] == [len(names)] * 3, (names, shown)
    differ = [(c, r, shown[r][names.index(c)], expected[r][j]) for r in range(3)
              for j, c in enumerate(common)
              if shown[r][names.index(c)] != expected[r][j] and not known_difference(c, r)]
    assert not differ, differ
    type_differ = [(n, t, native_types[n]) for n, t in shown_types
                   if n in native_types and t != native_types[n]]
    assert not type_differ, type_differ
    # TIMESTAMPTZ in the viewer's time zone, as DuckDB prints it with that TimeZone set
    stamp = "TIMESTAMPTZ '2024-07-01 03:04:05.5+00'"
    run(page, f"SELECT {stamp} AS t")
    with duckdb.connect() as con:
        con.execute(f"SET TimeZone = '{TIME_ZONE}'")
        assert cells(page) == [[con.execute(f"SELECT {stamp}::VARCHAR").fetchone()[0]]] \
            == [["2024-07-01 08:34:05.5+05:30"]]


def known_difference(column: str, row: int) -> bool:
    """Where DuckDB 1.4.3 in the page and native 1.5.6 with ICU honestly differ: the
    extreme TIMESTAMPTZ values (beyond a JS Date, shown as DuckDB's UTC text)."""
    return column in {"timestamp_tz", "timestamp_tz_array"} and row in (0, 1)


API_SQL = ("SELECT INTERVAL '1 year 2 months 3 days 04:05:06.5' AS i, 'nan'::DOUBLE AS n, "
           "'-inf'::FLOAT AS f, '101'::BIT AS b, MAP {2: 'x', 1: 'y'} AS m, "
           "{'z': 1, 'a': 2} AS s, 170141183460469231731687303715884105727::HUGEINT AS h, "
           "5::HUGEINT AS h5, '12:00:01.5+05:30'::TIMETZ AS tz, 'infinity'::TIMESTAMP AS ti, "
           "'a'::ENUM('a', 'b') AS e, gen_random_uuid() IS NOT NULL AS u, NULL AS nul, "
           "'NULL' AS txt, ['101'::BIT] AS bl, {'tz': '12:00:01.5+05:30'::TIMETZ, "
           "'iv': INTERVAL 1 DAY, 'd': 'infinity'::DATE} AS st, "
           "[TIMESTAMPTZ '2024-07-01 03:04:05.5+00', 'infinity'::TIMESTAMPTZ] AS tl, "
           "MAP {'b': 'infinity'::DATE, 'a': NULL} AS md")


def test_query_api_returns_values_and_types_as_duckdb_has_them(page: Any) -> None:
    row = q(page, API_SQL)[0]
    assert row["i"] == "1 year 2 months 3 days 04:05:06.5"
    assert math.isnan(row["n"]) and row["f"] == -math.inf
    assert row["b"] == "101" and row["tz"] == "12:00:01.5+05:30" and row["ti"] == "infinity"
    assert row["m"] == [{"key": 2, "value": "x"}, {"key": 1, "value": "y"}]
    assert list(row["s"]) == ["z", "a"]  # struct fields in order
    assert row["h"] == "170141183460469231731687303715884105727" and row["h5"] == 5
    assert row["e"] == "a" and row["nul"] is None and row["txt"] == "NULL"
    # nested values as top-level ones (Arrow's getters threw on a nested infinity)
    assert row["bl"] == ["101"]
    assert row["st"] == {"tz": "12:00:01.5+05:30", "iv": "1 day", "d": "infinity"}
    assert row["tl"] == ["2024-07-01T03:04:05.500Z", "infinity"]
    assert row["md"] == [{"key": "b", "value": "infinity"}, {"key": "a", "value": None}]
    types = page.evaluate("async (s) => (await window.ducksync.queryTable(s)).columns"
                          ".map((c) => c.type)", API_SQL)
    assert types[:13] == ["INTERVAL", "DOUBLE", "FLOAT", "BIT", "MAP(INTEGER, VARCHAR)",
                          "STRUCT(z INTEGER, a INTEGER)", "HUGEINT", "HUGEINT",
                          "TIME WITH TIME ZONE", "TIMESTAMP", "ENUM('a', 'b')", "BOOLEAN",
                          types[12]]
    extremes = q(page, 'SELECT "timestamp" AS t, "date" AS d, uuid, uhugeint '
                       "FROM test_all_types()")
    assert extremes == [
        {"t": "-290308-12-22T00:00:00.000Z", "d": "-5877641-06-25",
         "uuid": "00000000-0000-0000-0000-000000000000", "uhugeint": 0},
        {"t": "+294247-01-10T04:00:54.775Z", "d": "+5881580-07-10",
         "uuid": "ffffffff-ffff-ffff-ffff-ffffffffffff",
         "uhugeint": "340282366920938463463374607431768211455"},
        {"t": None, "d": None, "uuid": None, "uhugeint": None}]

