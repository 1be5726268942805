"""The schema browser's pure helpers (web/ui_schema.py, MicroPython in the page; here in
CPython with a stand-in for PyScript's ``pyscript`` module)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from page_modules import page_module


@pytest.fixture(scope="module")
def schema() -> Iterator[Any]:
    with page_module("ui_schema") as module:
        yield module


def test_the_catalog_and_counts_statements_cover_every_schema_but_the_engines(
        schema: Any) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE birds (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL)")
    con.execute("INSERT INTO birds SELECT range, 'b' FROM range(9)")
    con.execute("DELETE FROM birds WHERE id >= 4")
    con.execute('CREATE SCHEMA "my ""odd"" schema"')
    con.execute('CREATE TABLE "my ""odd"" schema".notes (k VARCHAR, n INTEGER, '
                "PRIMARY KEY (k, n))")
    con.execute("CREATE SCHEMA ducksync")
    con.execute("CREATE TABLE ducksync.ledger (x INTEGER)")
    tables = schema.group_catalog(con.execute(schema.CATALOG_SQL).fetchall())
    assert [(t["schema"], t["table"], t["key"]) for t in tables] == [
        ("main", "birds", ["id"]), ('my "odd" schema', "notes", ["k", "n"])]
    assert tables[0]["columns"] == [{"name": "id", "type": "INTEGER", "nullable": False},
                                    {"name": "name", "type": "VARCHAR", "nullable": False}]
    pairs = [(t["schema"], t["table"]) for t in tables]
    assert con.execute(schema.counts_sql(pairs)).fetchone() == (4, 0)


def test_sync_state_words(schema: Any) -> None:
    keyed = {"schema": "main", "table": "t", "key": ["id"]}
    assert schema.sync_words(keyed, {}, None) == "not synced yet"
    assert schema.sync_words(keyed, {}, 9) == "not synced yet"  # its rows: all unsent
    assert schema.sync_words(keyed, {"synced": True}, 1) == "1 change not sent"
    assert schema.sync_words(keyed, {"synced": True}, 0) == "synced"
    # right after a write the status counts again (unsent_tables: null): not "synced"
    assert schema.sync_words(keyed, {"synced": True}, None, True) == "counting changes not sent"
    html = schema.local_html([{**keyed, "columns": []}], [3], {"t": {"synced": True}}, {"t": None})
    assert "counting changes not sent" in html and ">synced<" not in html
    assert schema.sync_words(keyed, {"synced": True, "pending_conflicts": 2}, 0) == \
        "2 conflicts to resolve"
    assert schema.sync_words({**keyed, "key": []}, {}, None) == "not synced (no primary key)"
    # the last run of the table failed: an older sync does not make it "synced"
    stopped = {"synced": True, "error": {"code": "schema_mismatch", "message": (
        "column t.done was dropped locally since the last sync (remote: done BOOLEAN; "
        "local: no such column); syncing would replace its values")}}
    assert schema.sync_words(keyed, stopped, 0) == \
        "last sync failed: column t.done was dropped locally since the last sync"
    assert schema.sync_words({**keyed, "schema": "s"}, {}, None).startswith("not synced (only")


def test_a_table_owed_its_key_says_so_rather_than_no_key(schema: Any) -> None:
    """A table a bootstrap created gets its key after its last rows (engine/bootstrap.py):
    was shown as "no key · not synced (no primary key)" while it synced."""
    t = {"schema": "main", "table": "t", "key": [], "columns": [
        {"name": "id", "type": "BIGINT", "nullable": False}]}
    owed = {"t": {"synced": True, "primary_key": ["id"], "key_pending": True}}
    assert schema.sync_words(t, owed["t"], None) == \
        "pull not finished: its key is added when every row is here"
    html = schema.local_html([t], [5], owed, {})
    assert "key id (added when every row is here)" in html and "no primary key" not in html
    assert "no key" in schema.local_html([t], [5], {}, {})  # a table of the user's: none


def test_local_html_escapes_names_and_keeps_open_tables_open(schema: Any) -> None:
    tables = [{"schema": "main", "table": "<b>", "key": [], "columns": [
        {"name": "x", "type": "INTEGER", "nullable": True}]}]
    html = schema.local_html(tables, [1], {}, {}, ["main.<b>"])
    assert "&lt;b&gt;" in html and "<b><b>" not in html and " open>" in html
    assert "1 row<" in html


def test_a_kept_copy_is_not_synced_and_an_empty_list_says_why(schema: Any) -> None:
    keyed = {"schema": "main", "table": "t", "key": ["id"]}
    assert schema.sync_words(keyed, {"synced": True, "held": False}, 0) == \
        "not synced (this device does not hold it)"
    # a new device's first sync is bringing the tables: not "create one" alone
    assert "arrive with the sync" in schema.local_html([], [], {}, {}, syncing=True)
    assert "create one" in schema.local_html([], [], {}, {})


def test_the_hold_checkbox_says_what_it_did_to_the_copy_and_the_server() -> None:
    with page_module("ui_remote") as remote:
        assert "syncs from now on" in remote.hold_words("big", True, False)
        dropped = remote.hold_words("big", False, True)
        assert "deleted" in dropped and "server keeps every row" in dropped
        kept = remote.hold_words("big", False, False)
        assert "is kept" in kept and "not sent" in kept and "tick it" in kept
