"""The server in-process: isolation headers, MIME types, health and the remote API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from ducksync.server.app import create_app
from ducksync.server.settings import Settings


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    (root / "dist" / "vendor" / "x-1").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>t</title>")
    (root / "dist" / "vendor" / "x-1" / "m.wasm").write_bytes(b"\0asm\1\0\0\0")
    (root / "dist" / "app.mjs").write_text("export {};")
    return root


@pytest.fixture
def client(tmp_path: Path, web_root: Path) -> Iterator[TestClient]:
    settings = Settings(remote=str(tmp_path / "remote.duckdb"), web_root=web_root)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_every_response_is_cross_origin_isolated(client: TestClient) -> None:
    for path in ("/", "/healthz", "/dist/app.mjs", "/missing"):
        response = client.get(path)
        assert response.headers["cross-origin-opener-policy"] == "same-origin", path
        assert response.headers["cross-origin-embedder-policy"] == "require-corp", path
        assert response.headers["cross-origin-resource-policy"] == "same-origin", path


def test_wasm_and_module_mime_types(client: TestClient) -> None:
    assert client.get("/dist/vendor/x-1/m.wasm").headers["content-type"] == "application/wasm"
    assert client.get("/dist/app.mjs").headers["content-type"].startswith("text/javascript")


def test_versioned_vendor_files_are_immutable_others_revalidate(client: TestClient) -> None:
    assert "immutable" in client.get("/dist/vendor/x-1/m.wasm").headers["cache-control"]
    assert client.get("/").headers["cache-control"] == "no-cache"


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "remote": "duckdb-file"}


def test_remote_tables_lists_user_tables(tmp_path: Path, web_root: Path) -> None:
    remote = tmp_path / "remote.duckdb"
    with duckdb.connect(str(remote)) as con:
        con.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR)")
        con.execute("INSERT INTO items SELECT i, 'n' || i FROM range(3) t(i)")
    with TestClient(create_app(Settings(remote=str(remote), web_root=web_root))) as client:
        tables = client.get("/api/v1/remote/tables").json()["tables"]
    assert [(t["schema"], t["name"], t["rows"]) for t in tables] == [("main", "items", 3)]


def test_unreachable_remote_is_503_with_a_hint(tmp_path: Path, web_root: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    settings = Settings(remote=str(blocker / "remote.duckdb"), web_root=web_root)
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
        assert client.get("/healthz").status_code == 200
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "remote_unavailable"
    assert error["hint"]


def test_md_remote_without_token_says_how_to_fix(tmp_path: Path, web_root: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOTHERDUCK_TOKEN", raising=False)
    with TestClient(create_app(Settings(remote="md:my_db", web_root=web_root))) as client:
        response = client.get("/readyz")
    assert response.status_code == 401
    assert "MOTHERDUCK_TOKEN" in response.json()["error"]["hint"]


def test_settings_from_env_prefers_motherduck_when_token_set() -> None:
    env = {"MOTHERDUCK_TOKEN": "secret-token", "MOTHERDUCK_DATABASE": "analytics",
           "ALLOWED_ORIGINS": "http://a.test, http://b.test"}
    settings = Settings.from_env(env)
    assert settings.remote == "md:analytics"
    assert settings.allowed_origins == ("http://a.test", "http://b.test")
    assert "secret-token" not in repr(settings)
    assert Settings.from_env(env, remote="x.duckdb").remote == "x.duckdb"
