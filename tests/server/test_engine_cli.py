"""The engine and the CLI syncing through the real server (HTTP store, API key)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
from server_env import API_KEY, CANARY

from ducksync.engine.sync import SyncOptions, sync
from ducksync.stores import open_local
from ducksync.stores.http import HttpRemoteStore

ROOT = Path(__file__).resolve().parents[2]


def _seed(path: Path, table: str, n: int) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR, v DOUBLE)")
        con.execute(f"INSERT INTO {table} SELECT i, 'n' || i, i / 3 FROM range({n}) t(i)")


def _sync(local: Path, url: str, table: str) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        remote = HttpRemoteStore(url=url, api_key=API_KEY)
        try:
            report = await sync(open_local(str(local)), remote, SyncOptions(tables=[table]),
                                "sync")
            return dict(report.to_dict())
        finally:
            await remote.aclose()

    return asyncio.run(main())


def test_engine_converges_two_clients_through_the_server(auth_server: Any,
                                                          tmp_path: Path) -> None:
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    _seed(a, "engine_items", 500)
    first = _sync(a, auth_server.url, "engine_items")
    assert first["converged"] and first["tables"][0]["pushed"] == 500
    pulled = _sync(b, auth_server.url, "engine_items")
    assert pulled["tables"][0]["pulled"] == 500
    with duckdb.connect(str(b)) as con:
        con.execute("UPDATE engine_items SET name = 'changed by b' WHERE id < 10")
        con.execute("DELETE FROM engine_items WHERE id = 499")
    assert _sync(b, auth_server.url, "engine_items")["tables"][0]["pushed"] == 11
    again = _sync(a, auth_server.url, "engine_items")
    assert again["converged"] and again["tables"][0]["pulled"] >= 10
    with duckdb.connect(str(a)) as con:
        assert con.execute("SELECT count(*) FROM engine_items").fetchone() == (499,)
        assert con.execute("SELECT count(*) FROM engine_items WHERE name = 'changed by b'"
                           ).fetchone() == (10,)


def test_cli_sync_over_http(auth_server: Any, tmp_path: Path) -> None:
    local = tmp_path / "local.duckdb"
    _seed(local, "cli_items", 200)
    env = {**os.environ, "DUCKSYNC_API_KEY": API_KEY}
    env.pop("MOTHERDUCK_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "ducksync", "sync", str(local), auth_server.url,
         "--table", "cli_items", "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["converged"] and report["tables"][0]["pushed"] == 200
    assert CANARY not in result.stdout + result.stderr
    no_key = {k: v for k, v in env.items() if k != "DUCKSYNC_API_KEY"}
    refused = subprocess.run(
        [sys.executable, "-m", "ducksync", "sync", str(local), auth_server.url,
         "--table", "cli_items"], cwd=ROOT, env=no_key, capture_output=True, text=True,
        timeout=120)
    assert refused.returncode != 0
    assert "authentication required" in refused.stdout + refused.stderr


def test_test_all_types_round_trips_through_the_server(auth_server: Any,
                                                       tmp_path: Path) -> None:
    """DuckDB's own test_all_types() (min, max, NULL of every type) pushed by one client
    and pulled by another through the HTTP server: every value lands exactly."""
    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    from test_types import all_types_table, exact_values

    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    with duckdb.connect(str(a)) as con:  # medium_enum: its type string is 2.9k characters
        con.execute("SET TimeZone = 'UTC'")
        columns = all_types_table(con, exclude="medium_enum", table="all_types")
        want = exact_values(con, columns, "all_types")
    pushed = _sync(a, auth_server.url, "all_types")
    assert pushed["converged"], pushed["tables"][0]["error"]
    pulled = _sync(b, auth_server.url, "all_types")
    assert pulled["converged"] and pulled["tables"][0]["pulled"] == 3
    with duckdb.connect(str(b)) as con:
        con.execute("SET TimeZone = 'UTC'")
        assert exact_values(con, columns, "all_types") == want
