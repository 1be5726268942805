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
