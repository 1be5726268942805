"""The sync HTTP API is declared once (``ducksync.sync_routes``): the server serves exactly
those routes, every RemoteStore method has one, and both clients build their requests
from it."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from ducksync.engine.store import RemoteStore
from ducksync.errors import ProtocolError
from ducksync.server.app import create_app
from ducksync.server.settings import Settings
from ducksync.sync_routes import API, FEED, ROUTES, page_headers, page_told, route_path
from ducksync.worker.port_store import PortRemoteStore
from ducksync.worker.remote_calls import HttpAnswer, http_call, serve_call


def _served() -> set[tuple[str, str]]:
    paths = create_app(Settings(remote=":memory:")).openapi()["paths"]
    return {(verb.upper(), path) for path, ops in paths.items() if path.startswith(API)
            for verb in ops}


def test_the_server_serves_exactly_the_declared_routes() -> None:
    declared = {(r.verb, API + r.path) for r in (*ROUTES.values(), FEED)}
    assert _served() == declared


def test_every_remote_store_method_has_a_route() -> None:
    methods = {name for name, _ in inspect.getmembers(RemoteStore, inspect.isfunction)
               if not name.startswith("_")}
    assert methods <= set(ROUTES), methods - set(ROUTES)


def test_names_are_data_not_paths() -> None:
    route = ROUTES["apply_batch"]
    assert route_path(route, table="a/b", batch_id="x y") == f"{API}/tables/a%2Fb/batches/x%20y"
    with pytest.raises(ValueError, match="table"):
        route_path(route, batch_id="b")


@pytest.mark.parametrize("method", sorted(ROUTES))
def test_the_browser_client_uses_the_declared_route(method: str) -> None:
    args = {"table": "t", "batch_id": "b", "key": ["id"], "columns": [], "primary_key": [],
            "modulus": 1, "parent_modulus": 1, "parents": [], "buckets": [], "batch_rows": 1,
            "column": "c", "after": None, "batch_ids": [], "tables": None}
    call, route = http_call(method, args), ROUTES[method]
    assert (call.method, call.path) == (route.verb, route_path(route, table="t", batch_id="b"))
    assert call.body_ipc == (route.body == "ipc") and call.reply_ipc == (route.reply == "ipc")


def test_an_unknown_method_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="unknown remote method"):
        http_call("drop_everything", {})


@pytest.mark.parametrize("last", ["368640", "naïve, \"quoted\"\r\nline", '["2024-01-04", "0"]'])
def test_a_page_s_end_crosses_as_headers(last: str) -> None:
    """Any key text (a newline, non-ASCII, a composite key's JSON) survives the headers."""
    headers = page_headers({"rows": 7, "last": last})
    assert all(v.isascii() and "\n" not in v for v in headers.values())
    assert page_told(headers) == {"rows": 7, "last": last}


def test_a_page_s_end_not_told_reads_as_unknown() -> None:
    """No headers (an older server), malformed ones, a key too long to send: empty, so
    the client reads the page itself. An empty page is told as such."""
    assert page_told({}) == {} and page_headers({}) == {}
    assert page_told({"x-ducksync-page-rows": "-1"}) == {}
    assert page_told({"x-ducksync-page-rows": "3"}) == {}  # rows but no key
    assert page_headers({"rows": 3, "last": "x" * 5000}) == {}
    assert page_told(page_headers({"rows": 0, "last": None})) == {"rows": 0, "last": None}


def test_a_page_s_end_reaches_the_engine_through_the_remote_worker_s_messages() -> None:
    """Headers → ``serve_call`` (the remote worker) → the reply message → the local
    worker's ``PortRemoteStore``: the engine's ``told`` is filled; without the headers
    it stays empty."""
    async def fetch_with(headers: dict[str, str]) -> dict[str, object]:
        async def fetch(call: object, ipc: object) -> HttpAnswer:
            return HttpAnswer(status=200, ipc=b"page", headers=headers)

        async def transport(method: str, args: dict[str, object], ipc: object) -> dict[str, object]:
            return await serve_call(method, args, ipc, fetch)  # type: ignore[arg-type]

        told: dict[str, object] = {}
        chunks = [c async for c in PortRemoteStore(transport=transport).fetch_rows_after(
            "t", "id", "5", batch_rows=10, limit=10, hashes=False, told=told)]  # type: ignore[arg-type]
        assert chunks == [b"page"]
        return told

    told = asyncio.run(fetch_with(page_headers({"rows": 10, "last": "15"})))
    assert told == {"rows": 10, "last": "15"}
    assert asyncio.run(fetch_with({})) == {}
