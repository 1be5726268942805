"""The sync HTTP API is declared once (``ducksync.sync_routes``): the server serves exactly
those routes, every RemoteStore method has one, and both clients build their requests
from it."""

from __future__ import annotations

import inspect

import pytest

from ducksync.engine.store import RemoteStore
from ducksync.errors import ProtocolError
from ducksync.server.app import create_app
from ducksync.server.settings import Settings
from ducksync.sync_routes import API, FEED, ROUTES, route_path
from ducksync.worker.remote_calls import http_call


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
