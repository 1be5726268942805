"""Security at the HTTP edge, against the real server with auth on.

Unauthenticated, forged and expired credentials are 401; CORS grants only the
allowlisted origin; oversized bodies are 413; identifiers are validated and
values are inert; the console refuses everything but one allowlisted SELECT.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pyarrow as pa
import pytest
from server_env import API_KEY, MAX_BODY, ORIGIN, PASSWORD, SECRET, USER

from ducksync.server.auth import Authenticator

ROUTES = [("GET", "/api/v1/sync/tables", None), ("GET", "/api/v1/sync/tables/items", None),
          ("POST", "/api/v1/sync/tables/items/checksums", {"key": ["id"], "modulus": 4}),
          ("POST", "/api/v1/sync/batches/ack", {"batch_ids": []}),
          ("GET", "/api/v1/sync/config", None), ("GET", "/api/v1/remote/tables", None),
          ("POST", "/api/v1/console/query", {"sql": "SELECT 1"}),
          ("GET", "/api/v1/auth/me", None)]


def forge(*, secret: str, ttl_s: int, subject: str = USER) -> str:
    signer = Authenticator(users={subject: "x"}, api_key_hashes=[], secret=secret.encode(),
                           ttl_s=ttl_s, open_mode=False)
    token, _ = signer.issue(signer._new_principal(subject=subject, kind="user"))
    return token


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_unauthenticated_is_401_with_json_error(auth_server: Any, method: str, path: str,
                                                body: Any) -> None:
    response = httpx.request(method, auth_server.url + path, json=body)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "auth"
    assert response.json()["error"]["hint"]


@pytest.mark.parametrize("token", [
    "v1.e30.AAAA", "not-a-token", forge(secret="wrong-secret", ttl_s=600),
    forge(secret=SECRET, ttl_s=-5), forge(secret=SECRET, ttl_s=600, subject="mallory"),
    "dsk_wrong_api_key"])
def test_forged_expired_or_unknown_credentials_are_401(auth_server: Any, token: str) -> None:
    for headers in ({"authorization": f"Bearer {token}"},
                    {"cookie": f"ducksync_session={token}"}):
        response = httpx.get(auth_server.url + "/api/v1/sync/tables", headers=headers)
        assert response.status_code == 401, (token, headers)


def test_tampered_payload_is_401(auth_server: Any) -> None:
    version, body, sig = forge(secret=SECRET, ttl_s=600).split(".")
    tampered = f"{version}.{body[:-2]}AA.{sig}"
    response = httpx.get(auth_server.url + "/api/v1/sync/tables",
                         headers={"authorization": f"Bearer {tampered}"})
    assert response.status_code == 401


def test_login_cookie_bearer_refresh_and_logout(auth_server: Any) -> None:
    with httpx.Client(base_url=auth_server.url) as client:
        assert client.post("/api/v1/auth/login",
                           json={"username": USER, "password": "wrong"}).status_code == 401
        response = client.post("/api/v1/auth/login",
                               json={"username": USER, "password": PASSWORD})
        assert response.status_code == 200
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        token = response.json()["token"]
        assert client.get("/api/v1/auth/me").json()["subject"] == USER  # via the cookie
        client.cookies.clear()
        bearer = {"authorization": f"Bearer {token}"}
        assert client.get("/api/v1/sync/tables", headers=bearer).status_code == 200
        refreshed = client.post("/api/v1/auth/refresh", headers=bearer)
        assert refreshed.status_code == 200 and refreshed.json()["token"]
        client.cookies.clear()
        key_login = client.post("/api/v1/auth/login", json={"api_key": API_KEY})
        assert key_login.status_code == 200
        assert client.post("/api/v1/auth/logout").status_code == 200
        expired = {"authorization": f"Bearer {forge(secret=SECRET, ttl_s=-5)}"}
        assert client.post("/api/v1/auth/refresh", headers=expired).status_code == 401


def test_cors_grants_only_the_allowlisted_origin(auth_server: Any) -> None:
    good = httpx.get(auth_server.url + "/healthz", headers={"origin": ORIGIN})
    assert good.headers.get("access-control-allow-origin") == ORIGIN
    bad = httpx.get(auth_server.url + "/healthz", headers={"origin": "http://evil.test"})
    assert "access-control-allow-origin" not in bad.headers
    preflight = httpx.options(auth_server.url + "/api/v1/sync/tables", headers={
        "origin": "http://evil.test", "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers


def test_oversized_body_is_413(auth_server: Any, key_headers: dict[str, str]) -> None:
    blob = b"\0" * (MAX_BODY + 1)
    response = httpx.post(auth_server.url + "/api/v1/sync/tables/items/batches/big?key=id",
                          content=blob, headers=key_headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("table", ['items"; DROP TABLE items; --', "ducksync.ledger",
                                   "__ds_in", "../etc", "items%00", "1items", "a" * 200])
def test_identifier_injection_is_rejected(auth_server: Any, key_headers: dict[str, str],
                                          table: str) -> None:
    response = httpx.post(auth_server.url + f"/api/v1/sync/tables/{table}/checksums",
                          json={"key": ["id"], "modulus": 4}, headers=key_headers)
    assert response.status_code in (400, 403, 404, 405), response.text
    response = httpx.post(auth_server.url + "/api/v1/sync/tables/items/checksums",
                          json={"key": ['id") FROM items; DROP TABLE items; --'],
                                "modulus": 4}, headers=key_headers)
    assert response.status_code in (400, 409), response.text


def _items_count(url: str, headers: dict[str, str]) -> int:
    httpx.put(url + "/api/v1/sync/tables/items", headers=headers, json={
        "columns": [{"name": "id", "type": "INTEGER", "nullable": False},
                    {"name": "name", "type": "VARCHAR"}], "primary_key": ["id"]})
    response = httpx.post(url + "/api/v1/console/query",
                          json={"sql": "SELECT count(*) AS n FROM items"}, headers=headers)
    assert response.status_code == 200, response.text
    return int(pa.ipc.open_stream(response.content).read_all().column("n")[0].as_py())


@pytest.mark.parametrize("sql", [
    "DROP TABLE items", "SELECT 1; DROP TABLE items", "DELETE FROM items",
    "INSERT INTO items VALUES (1000, 'x')", "UPDATE items SET name = 'x'",
    "COPY items TO '/tmp/leak.csv'", "ATTACH '/tmp/other.duckdb'", "PRAGMA database_list",
    "CALL pragma_version()", "SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM '/etc/passwd'",
    "SELECT current_setting('motherduck_token')", "SELECT * FROM duckdb_settings()",
    "SELECT * FROM ducksync.ledger", "SELECT * FROM secret_table",
    "SELECT getenv('MOTHERDUCK_TOKEN')", "SELECT getvariable('x')", "SET threads = 1",
    "LOAD httpfs",
    "SELECT * FROM query('DROP TABLE items')", "EXPORT DATABASE '/tmp/x'",
    "CREATE TABLE items2 AS SELECT * FROM items", "SELECT nextval('s')",
    "WITH x AS (SELECT 1) DELETE FROM items", "BEGIN; DROP TABLE items; COMMIT",
    "select * from items where name = '' or 1=1; drop table items --",
])
def test_console_refuses_anything_but_a_plain_select(auth_server: Any,
                                                     key_headers: dict[str, str],
                                                     sql: str) -> None:
    url = auth_server.url
    before = _items_count(url, key_headers)
    response = httpx.post(url + "/api/v1/console/query", json={"sql": sql}, headers=key_headers)
    assert response.status_code in (400, 403), (sql, response.status_code, response.text)
    assert response.json()["error"]["code"] in ("forbidden", "query", "protocol")
    assert _items_count(url, key_headers) == before


def test_console_runs_a_select_over_allowed_tables(auth_server: Any,
                                                   key_headers: dict[str, str]) -> None:
    _items_count(auth_server.url, key_headers)
    response = httpx.post(auth_server.url + "/api/v1/console/query", headers=key_headers,
                          json={"sql": "WITH t AS (SELECT * FROM items) "
                                       "SELECT count(*) AS n, max(length(name)) FROM t"})
    assert response.status_code == 200, response.text


def test_non_loopback_bind_without_auth_refuses_to_start(tmp_path: Any) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "ducksync", "serve", "--host", "0.0.0.0", "--port", "1",
         "--remote", str(tmp_path / "r.duckdb")], capture_output=True, text=True, env=env,
        timeout=60)
    assert result.returncode == 2
    assert "refusing to bind 0.0.0.0 with no authentication" in result.stderr
    assert "DUCKSYNC_API_KEYS" in result.stderr
