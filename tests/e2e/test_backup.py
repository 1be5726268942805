"""Export / import in the browser: the JS API and the page's Download / Upload buttons.

Device A holds the data; a fresh context (its own OPFS database) imports A's export.
Tables are compared inside the browser with ``EXCEPT ALL`` both ways; the downloaded SQL
script must also load in native duckdb. Waits are on promises and events, never sleeps.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pageutil import manual, q

pytestmark = pytest.mark.browser

SEED = """
CREATE TABLE bk_birds (id INTEGER PRIMARY KEY, name VARCHAR, weight DOUBLE, seen TIMESTAMP,
                    big UBIGINT, tags VARCHAR[], d DECIMAL(12,3));
INSERT INTO bk_birds SELECT range, CASE WHEN range % 7 = 0 THEN NULL ELSE 'bird "' || range
  || '", 🦆 ''x''' END, range / 3, TIMESTAMP '2024-01-01' + INTERVAL (range) MINUTE,
  18446744073709551615 - range, ['a', NULL, range::VARCHAR], range * 1.125 FROM range(800);
CREATE SCHEMA zoo;
CREATE TABLE zoo.keepers (name VARCHAR, since DATE);
INSERT INTO zoo.keepers VALUES ('ann', '2020-02-29'), ('', NULL), (NULL, '1970-01-01');
"""
TABLES = ("bk_birds", "zoo.keepers")
MANUAL = "window.ducksync.configureSync({interval: 0, onWrite: false})"

EXPORT_B64 = """async (format) => {
    const blob = await window.ducksync.export({format, chunkBytes: 16384});
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let s = ""; for (let i = 0; i < bytes.length; i += 8192)
      s += String.fromCharCode(...bytes.subarray(i, i + 8192));
    return {b64: btoa(s), type: blob.type, size: blob.size};
}"""
IMPORT_B64 = """async ([b64, replace]) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    window.__backupProgress = [];
    const off = window.ducksync.on("progress", (p) => window.__backupProgress.push(p));
    try { return await window.ducksync.import(new Blob([bytes]), {replace}); } finally { off(); }
}"""


@pytest.fixture(scope="module")
def source(browser: Any, server_url: str) -> Any:
    from pageutil import forward_console, wait_ready

    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    forward_console(page)
    page.goto(manual(server_url))
    wait_ready(page)
    page.evaluate(MANUAL)
    page.evaluate("(sql) => window.ducksync.exec(sql)", SEED)
    yield page
    context.close()


def rows_of(page: Any, table: str) -> list[dict[str, Any]]:
    return list(q(page, f"SELECT * FROM {table} ORDER BY ALL"))


def snapshot_as(page: Any, schema: str) -> None:
    """Copy the imported tables into ``schema`` (to compare two imports with EXCEPT ALL)."""
    page.evaluate("(sql) => window.ducksync.exec(sql)",
                  f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.bk_birds AS FROM main.bk_birds; "
                  f"CREATE TABLE {schema}.keepers AS FROM zoo.keepers")


def assert_identical(src: Any, dst: Any, table: str, copy: str) -> None:
    """dst's table equals src's (values, types), and equals ``copy`` (the other format's
    import) under EXCEPT ALL both ways, run by DuckDB in dst."""
    assert rows_of(dst, table) == rows_of(src, table)
    types = f"SELECT column_name, column_type FROM (DESCRIBE {table})"
    assert q(dst, types) == q(src, types)
    for sql in (f"SELECT count(*) AS n FROM (FROM {table} EXCEPT ALL FROM {copy})",
                f"SELECT count(*) AS n FROM (FROM {copy} EXCEPT ALL FROM {table})"):
        assert q(dst, sql) == [{"n": 0}]


def test_csv_and_sql_round_trip_through_the_js_api(source: Any, open_app: Any,
                                                    server_url: str) -> None:
    target = open_app(manual(server_url))
    target.evaluate(MANUAL)
    csv = source.evaluate(EXPORT_B64, "csv")
    assert csv["type"] == "application/zip" and base64.b64decode(csv["b64"])[:2] == b"PK"
    result = target.evaluate(IMPORT_B64, [csv["b64"], False])
    assert result["format"] == "csv" and result["rows"] == 803
    assert sorted(result["tables"]) == sorted(TABLES)
    progress = target.evaluate("window.__backupProgress")
    assert progress and all(p["task"] == "backup" for p in progress)
    assert progress[-1]["rows_done"] == 803
    # the same data again: refused without replace, then the SQL export replaces it
    err = target.evaluate("""async (b64) => { try {
        await window.ducksync.import(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
      } catch (e) { return {name: e.name, code: e.code, message: e.message}; } }""", csv["b64"])
    assert err["code"] == "backup" and "already has rows" in err["message"]
    snapshot_as(target, "via_csv")
    sql = source.evaluate(EXPORT_B64, "sql")
    script = base64.b64decode(sql["b64"]).decode()
    assert sql["type"] == "application/sql" and script.count("INSERT INTO") > 3  # streamed pages
    result = target.evaluate(IMPORT_B64, [sql["b64"], True])
    assert result["format"] == "sql" and result["rows"] == 803
    assert_identical(source, target, "bk_birds", "via_csv.bk_birds")
    assert_identical(source, target, "zoo.keepers", "via_csv.keepers")


def test_download_buttons_and_native_duckdb(source: Any, tmp_path: Path) -> None:
    with source.expect_download() as info:
        source.get_by_role("button", name="Download SQL").click()
    download = info.value
    assert download.suggested_filename.endswith(".sql")
    path = tmp_path / "backup.sql"
    download.save_as(path)
    con = duckdb.connect()
    con.execute(path.read_text())
    native = con.execute("SELECT * FROM bk_birds ORDER BY ALL").fetchall()
    browser = rows_of(source, "bk_birds")
    assert len(native) == len(browser) == 800
    assert [r[0] for r in native] == [r["id"] for r in browser]
    assert [r[4] for r in native] == [int(r["big"]) for r in browser]
    assert [(r[1], r[2], r[5]) for r in native] == [(r["name"], r["weight"], r["tags"])
                                                    for r in browser]
    assert con.execute("SELECT count(*) FROM zoo.keepers").fetchone() == (3,)
    with source.expect_download() as info:
        source.get_by_role("button", name="Download CSV").click()
    assert info.value.suggested_filename.endswith(".zip")
    # Upload (same data, replace) through the page's file input
    source.get_by_label("Replace tables that have rows").check()
    source.set_input_files("#backup-file", str(path))
    source.wait_for_function(
        "document.getElementById('backup-result').dataset.state === 'done'", timeout=60_000)
    assert "803 rows" in source.inner_text("#backup-result")
    assert len(rows_of(source, "bk_birds")) == 800
