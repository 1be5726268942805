"""Limits that say what they are: values, batches, type strings and columns through a
real server with a small body limit, and the request id of every server error.

The server here accepts bodies of at most 2 MB (``DUCKSYNC_MAX_BODY_BYTES``), so a
3 MB value stands for the 70 MB one against the default 64 MB.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from fastapi.testclient import TestClient

from ducksync.engine.sync import SyncOptions, sync
from ducksync.server.app import create_app
from ducksync.server.limits import MAX_COLUMNS, MAX_TYPE_CHARS
from ducksync.server.settings import Settings
from ducksync.stores import open_local
from ducksync.stores.http import HttpRemoteStore
from serverutil import RunningServer, running_server

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 2 * 1024 * 1024
TABLES = ("big_value", "grown", "nested", "fits", "long_keys", "labels", "wide", "too_wide",
          "typed")


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Open dev mode (loopback), a 2 MB body limit, an allowlist of this file's tables."""
    env = {"DUCKSYNC_MAX_BODY_BYTES": str(LIMIT), "DUCKSYNC_TABLES": ",".join(TABLES),
           "DUCKSYNC_RATE_LIMIT": "0"}
    with running_server(tmp_path_factory.mktemp("limits"), env=env) as running:
        yield running


def _sync(local: Path, url: str, table: str, mode: str = "sync") -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        remote = HttpRemoteStore(url=url)
        try:
            report = await sync(open_local(str(local)), remote, SyncOptions(tables=[table]),
                                mode)  # type: ignore[arg-type]
            return dict(report.to_dict()["tables"][0])
        finally:
            await remote.aclose()

    return asyncio.run(main())


def _remote_tables(url: str) -> list[str]:
    with urllib.request.urlopen(f"{url}/api/v1/sync/tables") as response:
        return [t["name"] for t in json.load(response)]


def _refused_413s(server: RunningServer) -> int:
    return sum(1 for line in server.output().splitlines() if '"status": 413' in line)


def test_a_value_over_the_limit_is_refused_before_anything_is_created(
        small_server: RunningServer, tmp_path: Path) -> None:
    local = tmp_path / "a.duckdb"
    with duckdb.connect(str(local)) as con:
        con.execute("CREATE TABLE big_value (id INTEGER PRIMARY KEY, v VARCHAR)")
        con.execute("INSERT INTO big_value VALUES (1, 'small'), (2, repeat('x', 3000000))")
    before = _refused_413s(small_server)
    report = _sync(local, small_server.url, "big_value")
    error = report["error"]
    assert error is not None and error["code"] == "payload_too_large", report
    for part in ("'big_value'", "(id)=(2)", "3,000,000 bytes", f"{LIMIT:,} bytes"):
        assert part in error["message"], error
    assert "DUCKSYNC_MAX_BODY_BYTES" in error["hint"]
    assert "big_value" not in _remote_tables(small_server.url)  # nothing created
    assert _refused_413s(small_server) == before  # nothing sent, so nothing retried


def test_a_value_grown_over_the_limit_is_refused_by_key_and_never_sent(
        small_server: RunningServer, tmp_path: Path) -> None:
    local, other = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    with duckdb.connect(str(local)) as con:
        con.execute("CREATE TABLE grown (id INTEGER PRIMARY KEY, v VARCHAR)")
        con.execute("INSERT INTO grown VALUES (1, 'one'), (2, 'two')")
    assert _sync(local, small_server.url, "grown")["converged"]
    with duckdb.connect(str(local)) as con:
        con.execute("UPDATE grown SET v = 'one, changed' WHERE id = 1")
        con.execute("UPDATE grown SET v = repeat('y', 3000000) WHERE id = 2")
    before = _refused_413s(small_server)
    error = _sync(local, small_server.url, "grown")["error"]
    assert error is not None and error["code"] == "payload_too_large", error
    assert "row (id)=(2) of table 'grown' is 3,000,000 bytes" in error["message"], error
    assert _refused_413s(small_server) == before
    assert _sync(other, small_server.url, "grown", "pull")["pulled"] == 2
    with duckdb.connect(str(other)) as con:  # nothing of that push was sent
        assert con.execute("SELECT v FROM grown ORDER BY id").fetchall() == [("one",), ("two",)]


def test_a_nested_value_over_the_limit_is_refused_by_key_when_sent(
        small_server: RunningServer, tmp_path: Path) -> None:
    """Nested values are not measured up front: the store refuses the batch by key."""
    local = tmp_path / "a.duckdb"
    with duckdb.connect(str(local)) as con:
        con.execute("CREATE TABLE nested (id INTEGER PRIMARY KEY, v VARCHAR[])")
        con.execute("INSERT INTO nested VALUES (1, ['small']), (2, [repeat('y', 3000000)])")
    before = _refused_413s(small_server)
    error = _sync(local, small_server.url, "nested")["error"]
    assert error is not None and error["code"] == "payload_too_large", error
    assert "row (id)=(2) of table 'nested'" in error["message"], error
    assert _refused_413s(small_server) == before


def test_rows_that_fit_go_in_batches_cut_by_bytes(small_server: RunningServer,
                                                  tmp_path: Path) -> None:
    """7 MB of 600 kB rows and one row of 1.8 MB (over the batch target, under the limit)
    go in batches under the limit: by the bulk path, then by the regular push."""
    local, other = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    with duckdb.connect(str(local)) as con:
        con.execute("CREATE TABLE fits (id INTEGER PRIMARY KEY, v VARCHAR)")
        con.execute("INSERT INTO fits SELECT i, repeat(chr((97 + i)::INTEGER), 600000) "
                    "FROM range(12) t(i)")
        con.execute("INSERT INTO fits VALUES (12, repeat('z', 1800000))")
    first = _sync(local, small_server.url, "fits")
    assert first["converged"] and first["pushed"] == 13, first
    with duckdb.connect(str(local)) as con:
        con.execute("UPDATE fits SET v = upper(v)")
    again = _sync(local, small_server.url, "fits")
    assert again["converged"] and again["pushed"] == 13 and "bulk-push" not in again["paths"]
    assert _sync(other, small_server.url, "fits")["pulled"] == 13
    digest = "SELECT count(*), sum(strlen(v)), bit_xor(hash(id, v)) FROM fits"
    with duckdb.connect(str(local)) as a, duckdb.connect(str(other)) as b:
        assert a.execute(digest).fetchone() == b.execute(digest).fetchone()


def test_the_keys_a_pull_asks_for_go_in_requests_under_the_limit(
        small_server: RunningServer, tmp_path: Path) -> None:
    """15,000 keys of 200 bytes (3 MB) are asked for in more than one request."""
    local, other = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    with duckdb.connect(str(local)) as con:
        con.execute("CREATE TABLE long_keys (k VARCHAR PRIMARY KEY, v INTEGER)")
        con.execute("INSERT INTO long_keys SELECT printf('key-%0196d', i), i "
                    "FROM range(15000) t(i)")
    assert _sync(local, small_server.url, "long_keys")["converged"]
    pulled = _sync(other, small_server.url, "long_keys")
    assert pulled["converged"] and pulled["pulled"] == 15000, pulled["error"]


def test_an_enum_of_thousands_of_labels_syncs(small_server: RunningServer,
                                              tmp_path: Path) -> None:
    local, other = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    labels = ", ".join(f"'label number {i}'" for i in range(5000))
    with duckdb.connect(str(local)) as con:
        con.execute(f"CREATE TABLE labels (id INTEGER PRIMARY KEY, v ENUM({labels}))")
        con.execute("INSERT INTO labels VALUES (1, 'label number 4999'), (2, 'label number 7')")
    assert _sync(local, small_server.url, "labels")["converged"]
    assert _sync(other, small_server.url, "labels")["pulled"] == 2
    with duckdb.connect(str(local)) as a, duckdb.connect(str(other)) as b:
        kind = "SELECT data_type FROM information_schema.columns WHERE column_name = 'v'"
        assert a.execute(kind).fetchone() == b.execute(kind).fetchone()
        rows = "SELECT id, v::VARCHAR FROM labels ORDER BY id"
        assert b.execute(rows).fetchall() == [(1, "label number 4999"), (2, "label number 7")]


def test_a_table_of_2000_columns_syncs(small_server: RunningServer, tmp_path: Path) -> None:
    local, other = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    cols = [f"c{i}" for i in range(2000)]
    with duckdb.connect(str(local)) as con:
        con.execute(f"CREATE TABLE wide (id INTEGER PRIMARY KEY, "
                    f"{', '.join(f'{c} VARCHAR' for c in cols)})")  # all measured up front
        con.execute(f"INSERT INTO wide SELECT i, {', '.join(f'i + {n}' for n in range(2000))} "
                    "FROM range(2) t(i)")
    first = _sync(local, small_server.url, "wide")
    assert first["converged"] and first["pushed"] == 2, first
    assert _sync(other, small_server.url, "wide")["pulled"] == 2
    with duckdb.connect(str(other)) as b:
        assert b.execute("SELECT c0, c1999 FROM wide ORDER BY id").fetchall() == [
            ("0", "1999"), ("1", "2000")]


def test_too_many_columns_are_refused_before_anything_is_created(
        small_server: RunningServer, tmp_path: Path) -> None:
    local = tmp_path / "a.duckdb"
    n = MAX_COLUMNS + 1
    with duckdb.connect(str(local)) as con:
        con.execute(f"CREATE TABLE too_wide (id INTEGER PRIMARY KEY, "
                    f"{', '.join(f'c{i} INTEGER' for i in range(n - 1))})")
    error = _sync(local, small_server.url, "too_wide")["error"]
    assert error is not None and error["code"] == "limit_exceeded", error
    assert f"table 'too_wide' has {n} columns" in error["message"]
    assert f"at most {MAX_COLUMNS}" in error["message"]
    assert error.get("request_id")
    assert "too_wide" not in _remote_tables(small_server.url)


def test_a_type_over_the_limit_names_table_and_column(small_server: RunningServer) -> None:
    long_type = "ENUM(" + ", ".join(f"'{i:07d}'" for i in range(MAX_TYPE_CHARS // 10)) + ")"
    response = httpx.put(f"{small_server.url}/api/v1/sync/tables/typed", json={
        "columns": [{"name": "id", "type": "INTEGER", "nullable": False},
                    {"name": "kind", "type": long_type}], "primary_key": ["id"]})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "limit_exceeded"
    assert "column 'kind' of table 'typed'" in error["message"]
    assert f"at most {MAX_TYPE_CHARS}" in error["message"]
    assert "typed" not in _remote_tables(small_server.url)


def test_the_cli_shows_the_request_id_of_a_server_error(small_server: RunningServer,
                                                        tmp_path: Path) -> None:
    local = tmp_path / "a.duckdb"
    with duckdb.connect(str(local)) as con:
        con.execute("CREATE TABLE not_listed (id INTEGER PRIMARY KEY)")
    env = {**os.environ}
    env.pop("MOTHERDUCK_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "ducksync", "push", str(local), small_server.url,
         "--table", "not_listed"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "not_listed: FAILED" in result.stdout, result.stdout
    marker = "[request id "
    assert marker in result.stdout, result.stdout
    request_id = result.stdout.split(marker, 1)[1].split("]", 1)[0]
    logged = [json.loads(line) for line in small_server.output().splitlines()
              if request_id in line and line.startswith("{")]
    assert any(entry.get("request_id") == request_id and entry.get("status", 0) >= 400
               for entry in logged), small_server.output()[-2000:]
    assert any(entry.get("code") == "forbidden" for entry in logged), logged


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_an_unexpected_server_error_carries_its_request_id_and_logs_it(
        tmp_path: Path) -> None:
    app = create_app(Settings(remote=str(tmp_path / "remote.duckdb"), web_root=tmp_path))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    app.router.routes.insert(0, app.router.routes.pop())  # before the static mount
    records = _Records()
    logger = logging.getLogger("ducksync.server")
    logger.addHandler(records)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get("/boom")
    finally:
        logger.removeHandler(records)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal"
    request_id = response.headers.get("x-request-id")
    assert request_id
    assert any(r.getMessage() == "unhandled error" and getattr(r, "request_id", None)
               == request_id and r.exc_info for r in records.records)
