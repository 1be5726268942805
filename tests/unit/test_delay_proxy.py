"""The bench's delaying proxy (py/ducksync/bench/delay_proxy.py): every request crosses
it, waits its delay, and the sync API's requests (not the change feed's stream) are
counted, on a connection kept alive as a browser keeps it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from ducksync.bench.delay_proxy import DelayProxy


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: several requests on one connection

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.path.encode() + b" " + self.rfile.read(length)
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[DelayProxy]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    running = DelayProxy(target_port=server.server_address[1]).start()
    try:
        yield running
    finally:
        running.stop()
        server.shutdown()
        server.server_close()


def test_requests_are_delayed_counted_and_answered_unchanged(proxy: DelayProxy) -> None:
    proxy.delay_s = 0.05
    with httpx.Client(base_url=proxy.url) as client:
        t0 = time.perf_counter()
        survey = client.post("/api/v1/sync/survey", content=b'{"tables": null}')
        ack = client.post("/api/v1/sync/batches/ack", content=b"\xff\xff\xff\xff")
        waited = time.perf_counter() - t0
        assert client.get("/api/v1/sync/changes").status_code == 200  # the feed: not counted
        assert client.get("/index.html").status_code == 200  # not the sync API
    assert survey.content == b'/api/v1/sync/survey {"tables": null}'
    assert ack.content == b"/api/v1/sync/batches/ack \xff\xff\xff\xff"
    assert proxy.paths == ["POST /api/v1/sync/survey", "POST /api/v1/sync/batches/ack"]
    assert waited >= 2 * 0.05  # each request waited its round trip
