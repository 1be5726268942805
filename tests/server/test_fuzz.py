"""Fuzz every operation in the OpenAPI schema with hypothesis (no schemathesis needed).

Requests are drawn from the schema itself (path and query parameters, JSON bodies
following the declared models, or random JSON / bytes / Arrow), sent to the real
app in-process over a seeded remote. Properties: never a 5xx; every error is the
JSON ``{"error": {code, message, hint}}``; a rejected request changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ducksync.server.app import create_app
from ducksync.server.settings import Settings

NASTY = st.sampled_from(["items", "id", "name", "'; DROP TABLE items; --", '"', "__ds_rk",
                         "ducksync.ledger", "../../etc/passwd", "\u0000", "é", "a" * 300,
                         "SELECT 1", "1", "-1", "nan", "%", "b-1"])
TEXT = st.one_of(NASTY, st.text(max_size=40))
JSON = st.recursive(st.none() | st.booleans() | st.integers()
                    | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12)


def from_schema(schema: dict[str, Any], components: dict[str, Any], depth: int = 0
                ) -> st.SearchStrategy[Any]:
    """A strategy for (mostly) valid values of a JSON schema; random JSON at the leaves."""
    if "$ref" in schema:
        return from_schema(components[schema["$ref"].rsplit("/", 1)[-1]], components, depth)
    if "anyOf" in schema:
        return st.one_of([from_schema(s, components, depth) for s in schema["anyOf"]])
    kind = schema.get("type")
    if depth > 4:
        return JSON
    if kind == "object":
        props = {name: from_schema(sub, components, depth + 1)
                 for name, sub in schema.get("properties", {}).items()}
        return st.fixed_dictionaries({k: v for k, v in props.items()
                                      if k in schema.get("required", [])},
                                     optional={k: v for k, v in props.items()
                                               if k not in schema.get("required", [])})
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), components, depth + 1), max_size=5)
    if kind == "integer":
        return st.one_of(st.integers(min_value=-5, max_value=70),
                         st.integers(min_value=-(2**70), max_value=2**70))
    if kind == "string":
        return TEXT
    if kind == "boolean":
        return st.booleans()
    return JSON


def fingerprint(app: Any) -> str:
    """Every user table's name, shape and content hash, plus the ledger size."""
    with app.state.remote.cursor() as cur:
        parts = []
        for (name,) in cur.execute("SELECT table_name FROM duckdb_tables() WHERE NOT internal "
                                   "AND schema_name = 'main' ORDER BY 1").fetchall():
            row = cur.execute(f'SELECT count(*), sum(hash(t)) FROM "{name}" t').fetchone()
            cols = cur.execute("SELECT column_name, data_type FROM information_schema.columns "
                               "WHERE table_name = ? ORDER BY ordinal_position",
                               [name]).fetchall()
            parts.append(f"{name}:{row}:{cols}")
        if cur.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ducksync' "
                       "AND table_name = 'ledger'").fetchone() == (1,):
            parts.append(str(cur.execute("SELECT count(*), sum(hash(l)) "
                                         "FROM ducksync.ledger l").fetchone()))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    remote = tmp / "remote.duckdb"
    with duckdb.connect(str(remote)) as con:
        con.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR)")
        con.execute("INSERT INTO items SELECT i, 'n' || i FROM range(20) t(i)")
    settings_ = Settings(remote=str(remote), web_root=tmp, readonly_console=True,
                         rate_limit_per_s=0, max_body_bytes=64 * 1024)
    with TestClient(create_app(settings_), raise_server_exceptions=False) as client:
        yield client


def _operations(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    schema = client.get("/api/openapi.json").json()
    return [(path, method, op) for path, methods in schema["paths"].items()
            for method, op in methods.items()
            if not path.startswith("/api/v1/auth")]  # login is scrypt-slow; tested directly


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_openapi_no_5xx_and_rejections_change_nothing(fuzz_client: TestClient,
                                                           data: st.DataObject) -> None:
    client = fuzz_client
    schema = client.get("/api/openapi.json").json()
    components = schema.get("components", {}).get("schemas", {})
    path, method, op = data.draw(st.sampled_from(_operations(client)))
    url, query = path, {}
    for param in op.get("parameters", []):
        value = data.draw(from_schema(param.get("schema", {}), components))
        if param["in"] == "path":
            url = url.replace("{" + param["name"] + "}", quote(str(value), safe="") or "x")
        elif data.draw(st.booleans()):
            query[param["name"]] = value
    kwargs: dict[str, Any] = {"params": query}
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body_schema = content["application/json"]["schema"]
        kwargs["json"] = data.draw(st.one_of(from_schema(body_schema, components), JSON))
    elif content:
        kwargs["content"] = data.draw(st.binary(max_size=300))
        kwargs["headers"] = {"content-encoding": data.draw(
            st.sampled_from(["identity", "gzip", "zstd", "br"]))}
    before = fingerprint(client.app)
    response = client.request(method.upper(), url, **kwargs)
    assert response.status_code < 500, (method, url, kwargs, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"code", "message", "hint"} and error["code"] != "internal"
        assert fingerprint(client.app) == before, (method, url, kwargs, response.text)


SECRET = "alice-secret-"  # in every row only alice may read


@pytest.fixture(scope="module")
def probing_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app with sync rules: mallory, signed in, owns two rows; alice owns twenty."""
    from ducksync.server.auth import hash_password

    tmp: Path = tmp_path_factory.mktemp("fuzz-rules")
    remote = tmp / "remote.duckdb"
    with duckdb.connect(str(remote)) as con:
        con.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, owner VARCHAR, name VARCHAR)")
        con.execute(f"INSERT INTO items SELECT i, 'alice', '{SECRET}' || i FROM range(20) t(i)")
        con.execute("INSERT INTO items VALUES (100, 'mallory', 'm0'), (101, 'mallory', 'm1')")
    (tmp / "rules.toml").write_text('[tables.items]\nfilter = "owner = $user"\n')
    settings_ = Settings(remote=str(remote), web_root=tmp, readonly_console=True,
                         rate_limit_per_s=0, max_body_bytes=64 * 1024,
                         rules_file=tmp / "rules.toml",
                         users=(f"mallory:{hash_password('pw')}",))
    with TestClient(create_app(settings_), raise_server_exceptions=False) as client:
        token = client.post("/api/v1/auth/login",
                            json={"username": "mallory", "password": "pw"}).json()["token"]
        client.cookies.clear()
        client.headers["authorization"] = f"Bearer {token}"
        yield client


def _alices_rows(app: Any) -> list[tuple[Any, ...]]:
    with app.state.remote.cursor() as cur:
        return list(cur.execute("SELECT * FROM items WHERE owner = 'alice' ORDER BY id")
                    .fetchall())


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_a_principal_probing_anothers_rows_learns_and_changes_nothing(
        probing_client: TestClient, data: st.DataObject) -> None:
    """Any operation, any arguments, signed in as mallory: no 5xx, no byte of alice's rows
    in any answer, no row count beyond mallory's two, alice's rows unchanged."""
    client = probing_client
    schema = client.get("/api/openapi.json").json()
    components = schema.get("components", {}).get("schemas", {})
    path, method, op = data.draw(st.sampled_from(_operations(client)))
    url, query = path, {}
    for param in op.get("parameters", []):
        value = data.draw(st.one_of(st.just("items"), st.just(["id"]),
                                    from_schema(param.get("schema", {}), components)))
        if param["in"] == "path":
            url = url.replace("{" + param["name"] + "}", quote(str(value), safe="") or "x")
        elif data.draw(st.booleans()):
            query[param["name"]] = value
    kwargs: dict[str, Any] = {"params": query}
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body_schema = content["application/json"]["schema"]
        kwargs["json"] = data.draw(st.one_of(from_schema(body_schema, components), JSON,
                                             st.just({"key": ["id"], "modulus": 1}),
                                             st.just({"column": "id", "after": None})))
    elif content:
        kwargs["content"] = data.draw(st.binary(max_size=300))
    before = _alices_rows(client.app)
    response = client.request(method.upper(), url, **kwargs)
    assert response.status_code < 500, (method, url, kwargs, response.text)
    assert SECRET.encode() not in response.content, (method, url, kwargs)
    if response.status_code < 300 and url.endswith("/survey"):
        assert all(t["rows"] <= 2 for t in response.json()["tables"])
    assert _alices_rows(client.app) == before, (method, url, kwargs, response.text)
