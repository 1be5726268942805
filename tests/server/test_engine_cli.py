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


def test_cli_dropped_table_over_http_stops_then_drop_everywhere(auth_server: Any,
                                                                tmp_path: Path) -> None:
    """A local DROP TABLE never empties the server's copy; `drop --everywhere` (the
    server's DELETE route) is the explicit way, and the server's read cache forgets it."""
    local = tmp_path / "local.duckdb"
    _seed(local, "cli_dropped", 50)
    env = {**os.environ, "DUCKSYNC_API_KEY": API_KEY}
    env.pop("MOTHERDUCK_TOKEN", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ducksync", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    assert cli("sync", str(local), auth_server.url, "--table", "cli_dropped").returncode == 0
    with duckdb.connect(str(local)) as con:
        con.execute("DROP TABLE cli_dropped")
    stopped = cli("sync", str(local), auth_server.url, "--table", "cli_dropped", "--json")
    assert stopped.returncode == 1
    table = json.loads(stopped.stdout)["tables"][0]
    assert table["dropped_on"] == "local" and table["error"]["code"] == "table_dropped"
    other = tmp_path / "other.duckdb"  # the server still has every row
    assert _sync(other, auth_server.url, "cli_dropped")["tables"][0]["pulled"] == 50
    dropped = cli("drop", str(local), auth_server.url, "cli_dropped", "--everywhere")
    assert dropped.returncode == 0, dropped.stderr
    again = _sync(other, auth_server.url, "cli_dropped")["tables"][0]
    assert again["dropped_on"] == "remote"  # the other device keeps its copy and is told
    with duckdb.connect(str(other)) as con:
        assert con.execute("SELECT count(*) FROM cli_dropped").fetchone() == (50,)


def test_cli_refuses_null_and_repeated_keys_before_creating_anything(auth_server: Any,
                                                                     tmp_path: Path) -> None:
    """`--key id` on a table with a NULL id synced 2 of 3 rows and exited 0; repeated ids
    failed with no key named and left an empty table on the remote."""
    local = tmp_path / "local.duckdb"
    with duckdb.connect(str(local)) as con:
        con.execute("CREATE TABLE keyless_items (id INTEGER, v VARCHAR)")
        con.execute("INSERT INTO keyless_items VALUES (1, 'a'), (NULL, 'b'), (3, 'c')")
    env = {**os.environ, "DUCKSYNC_API_KEY": API_KEY}
    env.pop("MOTHERDUCK_TOKEN", None)

    def cli() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ducksync", "sync", str(local), auth_server.url,
             "--table", "keyless_items", "--key", "id"], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=120)

    async def remote_table() -> Any:
        remote = HttpRemoteStore(url=auth_server.url, api_key=API_KEY)
        try:
            return await remote.describe_table("keyless_items")
        finally:
            await remote.aclose()

    nulls = cli()
    assert nulls.returncode == 1, nulls.stdout + nulls.stderr
    assert ("keyless_items: FAILED InvalidKeyError: the local table 'keyless_items' has rows "
            "its key (id) cannot tell apart: id is NULL in 1 row") in nulls.stdout
    assert "--key" in nulls.stdout and "Traceback" not in nulls.stdout + nulls.stderr
    with duckdb.connect(str(local)) as con:
        con.execute("UPDATE keyless_items SET id = 1 WHERE id IS NULL")
    repeated = cli()
    assert repeated.returncode == 1, repeated.stdout + repeated.stderr
    assert "1 key value is held by more than one row (2 rows), e.g. 1 (2 rows)" in repeated.stdout
    assert asyncio.run(remote_table()) is None  # nothing was created on the remote
    with duckdb.connect(str(local)) as con:
        con.execute("UPDATE keyless_items SET id = 2 WHERE v = 'b'")
    fixed = cli()
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "pushed 3" in fixed.stdout


def test_cli_resolves_composite_keys_that_joined_alike(tmp_path: Path) -> None:
    """('x|y', 'z') and ('x', 'y|z') were both 'x|y|z': the second conflict broke every
    sync. Labels are JSON arrays now; --resolve takes one in any spacing."""
    a, b, remote = (str(tmp_path / f"{n}.duckdb") for n in ("a", "b", "r"))
    with duckdb.connect(a) as con:
        con.execute("CREATE TABLE c (a VARCHAR, b VARCHAR, v VARCHAR, PRIMARY KEY (a, b))")
        con.execute("INSERT INTO c VALUES ('x|y', 'z', '0'), ('x', 'y|z', '0')")
    env = {k: v for k, v in os.environ.items() if k != "MOTHERDUCK_TOKEN"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ducksync", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    assert cli("sync", a, remote).returncode == 0 and cli("sync", b, remote).returncode == 0
    for path, value in ((a, "A"), (b, "B")):
        with duckdb.connect(path) as con:
            con.execute(f"UPDATE c SET v = '{value}'")
    assert cli("sync", a, remote).returncode == 0
    kept = cli("sync", b, remote)
    assert kept.returncode == 1 and "(2 pending)" in kept.stdout, kept.stdout + kept.stderr
    listed = cli("conflicts", b).stdout
    assert 'c key=["x","y|z"]' in listed and 'c key=["x|y","z"]' in listed, listed
    missing = cli("conflicts", b, "--resolve", "x|y|z", "--take", "local")
    assert missing.returncode == 2 and "no pending conflict has key 'x|y|z'" in missing.stderr
    for key in ('["x|y", "z"]', '["x","y|z"]'):
        done = cli("conflicts", b, "--resolve", key, "--take", "local")
        assert done.returncode == 0, done.stdout + done.stderr
    assert cli("sync", b, remote).returncode == 0 and cli("sync", a, remote).returncode == 0
    with duckdb.connect(a) as con:
        assert con.execute("SELECT v FROM c").fetchall() == [("B",), ("B",)]


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
