"""The server's remote database (ducksync.server.remote): which tables it lists."""

from __future__ import annotations

from pathlib import Path

from ducksync.server.remote import RemoteDatabase


def test_only_the_configured_databases_tables_are_listed(tmp_path: Path) -> None:
    # md: attaches the whole workspace by default: other databases' tables are not ours.
    other = tmp_path / "other.duckdb"
    remote = RemoteDatabase(spec=str(tmp_path / "remote.duckdb"))
    try:
        with remote.cursor() as cur:
            cur.execute("CREATE TABLE birds (id INTEGER PRIMARY KEY)")
            cur.execute(f"ATTACH '{other}' AS other_db")
            cur.execute("CREATE TABLE other_db.main.invoices (id INTEGER)")
            cur.execute("CREATE TEMP TABLE scratch (id INTEGER)")
        assert [t["name"] for t in remote.list_tables()] == ["birds"]
    finally:
        remote.close()


def test_row_counts_are_exact_not_duckdbs_estimate(tmp_path: Path) -> None:
    # estimated_size keeps deleted rows until they are compacted: 9 for this 4-row table.
    remote = RemoteDatabase(spec=str(tmp_path / "remote.duckdb"))
    try:
        with remote.cursor() as cur:
            cur.execute("CREATE TABLE birds AS SELECT range AS id FROM range(9)")
            cur.execute("DELETE FROM birds WHERE id >= 4")
            cur.execute('CREATE SCHEMA "odd ""schema"""')
            cur.execute('CREATE TABLE "odd ""schema"""."a ""b""" AS SELECT 1 AS x')
            cur.execute("CREATE TABLE empty (id INTEGER)")
        tables = remote.list_tables()
        assert [(t["schema"], t["name"], t["rows"]) for t in tables] == [
            ("main", "birds", 4), ("main", "empty", 0), ('odd "schema"', 'a "b"', 1)]
    finally:
        remote.close()
