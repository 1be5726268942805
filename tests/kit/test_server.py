"""The kit's server: a real ``ducksync serve`` that a test can read, kill and bring back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from ducksync.testing import ServerError

RULES = """
[tables.todos]
filter = "owner = $user"
access = "read-write"
"""


def seed(path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE todos (id INTEGER PRIMARY KEY, owner VARCHAR, text VARCHAR)")
        con.execute("INSERT INTO todos VALUES (1, 'alice', 'milk'), (2, 'bob', 'eggs')")
    return path


def test_the_remote_is_read_while_running_and_after_a_kill_and_restart_keeps_it_and_sessions(
        ducksync_server: Any, tmp_path: Path) -> None:
    server = ducksync_server(remote=seed(tmp_path / "seeded.duckdb"), users=["alice"])
    assert server.remote_path == tmp_path / "seeded.duckdb" and server.running
    assert httpx.get(server.url + "/healthz").json()["status"] == "ok"
    token = httpx.post(server.url + "/api/v1/auth/login", json={
        "username": "alice", "password": "alice-password"}).json()["token"]
    me = {"authorization": f"Bearer {token}"}
    todos = "SELECT id, text FROM todos ORDER BY id"
    # while it runs, through the server (a second process could not open the locked file)
    assert server.query(todos) == [{"id": 1, "text": "milk"}, {"id": 2, "text": "eggs"}]
    with pytest.raises(ServerError, match="refused 'DELETE FROM todos'"):
        server.query("DELETE FROM todos")  # read-only, and says what it refused
    port = server.port
    server.kill()
    assert not server.running
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/healthz")
    assert server.query(todos)[1] == {"id": 2, "text": "eggs"}  # from the file itself
    server.restart()
    assert server.port == port and server.query("SELECT count(*) AS n FROM todos") == [{"n": 2}]
    # the same server: a device signed in before the crash is still signed in after it
    assert httpx.get(server.url + "/api/v1/auth/me", headers=me).json()["subject"] == "alice"
    assert server.logs().count(f"ducksync: serving http://127.0.0.1:{port}/") == 2  # both runs


def test_users_rules_and_the_apps_own_pages(ducksync_server: Any, tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "index.html").write_text("<title>my todo app</title>")
    server = ducksync_server(remote=seed(tmp_path / "seeded.duckdb"),
                             users={"alice": "s3cret"}, rules=RULES, web_root=app)
    assert server.users == {"alice": "s3cret"}
    # the app's page at /, ducksync's assets filling in
    assert "my todo app" in httpx.get(server.url + "/").text
    assert httpx.get(server.url + "/dist/ducksync.js").status_code == 200
    assert httpx.get(server.url + "/sw.js").status_code == 200
    # auth is on: anonymous calls are refused
    assert httpx.get(server.url + "/api/v1/auth/me").status_code == 401
    assert server.query("SELECT 1 AS one") == [{"one": 1}]  # the kit reads with its own key
    rules_file = Path(server._env["DUCKSYNC_RULES"])
    assert rules_file.read_text() == RULES and rules_file.parent == server.folder


def test_a_server_that_cannot_start_says_why(ducksync_server: Any) -> None:
    with pytest.raises(ServerError, match=r"exited with \d+ before answering:\n.*DUCKSYNC_"):
        ducksync_server(env={"DUCKSYNC_RATE_LIMIT": "fast"})
