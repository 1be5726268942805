"""Metrics, request ids, JSON logs, rate limits, and the canary token nowhere to be seen."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from server_env import CANARY

from ducksync.server.app import create_app
from ducksync.server.settings import Settings
from ducksync.sync_routes import FEED, route_path

FEED_PATH = route_path(FEED)


def test_metrics_and_request_ids(auth_server: Any, key_headers: dict[str, str]) -> None:
    echoed = httpx.get(auth_server.url + "/api/v1/sync/tables", headers={
        **key_headers, "x-request-id": "trace-123"})
    assert echoed.headers["x-request-id"] == "trace-123"
    generated = httpx.get(auth_server.url + "/healthz",
                          headers={"x-request-id": "bad id with spaces!"})
    assert generated.headers["x-request-id"] != "bad id with spaces!"
    text = httpx.get(auth_server.url + "/metrics").text
    for name in ("ducksync_http_requests_total", "ducksync_http_request_duration_seconds_bucket",
                 "ducksync_errors_total", "ducksync_sync_batches_total",
                 "ducksync_sync_rows_total", "ducksync_sync_bytes_total"):
        assert name in text, name
    assert 'route="/api/v1/sync/tables"' in text


def test_log_lines_are_json_with_request_ids(auth_server: Any, key_headers: dict[str, str]
                                             ) -> None:
    httpx.get(auth_server.url + "/api/v1/sync/tables",
              headers={**key_headers, "x-request-id": "log-probe-1"})
    deadline = time.monotonic() + 5  # the access line is written just after the response
    while True:
        lines = [json.loads(line) for line in auth_server.output().splitlines()
                 if line.startswith("{")]
        if any(entry.get("request_id") == "log-probe-1" for entry in lines):
            break
        assert time.monotonic() < deadline, "no JSON log line with the request id"
        time.sleep(0.05)


def test_rate_limit_is_429_per_session(tmp_path: Path) -> None:
    settings = Settings(remote=str(tmp_path / "r.duckdb"), web_root=tmp_path,
                        rate_limit_per_s=1.0, rate_limit_burst=3)
    with TestClient(create_app(settings)) as client:
        statuses = [client.get("/api/v1/sync/config").status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200] and statuses[-1] == 429
        error = client.get("/api/v1/sync/config").json()["error"]
        assert error["code"] == "rate_limited" and "retry after" in error["hint"]
        assert client.get("/healthz").status_code == 200  # health is never limited


def test_motherduck_token_never_leaves_the_server(auth_server: Any,
                                                  key_headers: dict[str, str]) -> None:
    """Hit every route (ok and failing) and scan bodies, headers and the server log."""
    url = auth_server.url
    seen: list[str] = []
    client = httpx.Client(base_url=url)
    schema = client.get("/api/openapi.json").json()
    for path, methods in schema["paths"].items():
        if path == FEED_PATH:  # a stream that never ends: its first event is read below
            continue
        concrete = path.replace("{table}", "items").replace("{batch_id}", "b1")
        for method in methods:
            for headers in ({}, key_headers):
                for body in (None, {"sql": "SELECT current_setting('motherduck_token')"},
                             {"key": ["id"], "modulus": 2}):
                    r = client.request(method.upper(), concrete, json=body, headers=headers)
                    seen.append(r.text + json.dumps(dict(r.headers)))
    for headers in ({}, key_headers):
        with client.stream("GET", FEED_PATH, headers=headers) as feed:
            first = next(feed.iter_text()) if feed.status_code == 200 else feed.read().decode()
            seen.append(first + json.dumps(dict(feed.headers)))
    for path in ("/healthz", "/readyz", "/metrics", "/", "/api/docs", "/nope"):
        r = client.get(path)
        seen.append(r.text + json.dumps(dict(r.headers)))
    client.close()
    assert all(CANARY not in text for text in seen)
    log = auth_server.output()
    assert log.strip(), "the server logged nothing: the scan would prove nothing"
    assert CANARY not in log
