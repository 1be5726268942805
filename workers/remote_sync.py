"""The remote worker's side of sync: answers ``remote_call`` from the local worker's port.

Two transports (docs/transports.md), chosen by the page with ``remote_transport``:

* ``proxy`` (default): each call becomes one request of our server's sync API
  (``ducksync.worker.remote_calls``). The request's IPC body (transferred to this
  worker) goes to ``fetch`` as is; an Arrow answer comes back as a JS ``Uint8Array``
  and is transferred on to the local worker. Python never copies or decodes either.
* ``motherduck``: each call goes to a SqlRemoteStore on a SQL service worker
  (``md_connector``; ``ducksync.worker.store_calls`` maps the messages), the same
  reply payloads, IPC still passed through untouched.

A failed connect leaves the previous transport in place, and its service worker is
already gone, so the next attempt starts clean. The token is never logged or echoed.

With ``connect({getToken})`` (this worker's URL has ``?auth=app``) every ``proxy`` request
carries the app's bearer token (``ducksync.worker.bearer``: asked of the page at the first
call, before it expires and once after a 401) and no cookie.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import ducksync_host  # type: ignore[import-not-found]
import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, JsProxy, to_js  # type: ignore[import-not-found]

from ducksync import protocol
from ducksync.errors import ProtocolError, RemoteUnavailableError
from ducksync.feed import OwnCommits
from ducksync.protocol import Event
from ducksync.worker.bearer import BearerTokens
from ducksync.worker.remote_calls import HttpAnswer, HttpCall, serve_call
from ducksync.worker.store_calls import call_store
from ducksync.worker.transport import TRANSPORTS
from jsvalues import clean
from worker_host import WorkerHost, js_message


def _py(value: Any) -> Any:
    return clean(value.to_py() if isinstance(value, JsProxy) else value)


def _absent(value: Any) -> bool:
    """None or JS null/undefined, tested without ``to_py()`` (which would copy a whole IPC
    Uint8Array into the Pyodide heap just to look at it)."""
    return value is None or type(value).__name__ in ("JsNull", "JsUndefined")


async def _fetch(call: HttpCall, ipc: Any, bearer: str | None = None) -> HttpAnswer:
    json = to_js(call.json, dict_converter=js.Object.fromEntries) \
        if call.json is not None else None
    try:
        res = await ducksync_host.syncFetch(call.method, call.path, to_js(call.query), json,
                                         ipc if call.body_ipc else None, bearer)
    except JsException as exc:
        raise RemoteUnavailableError(
            f"cannot reach the server: {js_message(exc)}",
            hint="check the network and that the server is running; your changes are "
                 "kept here and sync retries when the server is back") \
            from None
    return HttpAnswer(status=int(res.status), json=_py(res.json),
                      ipc=None if _absent(res.ipc) else res.ipc,
                      headers=_py(res.headers) or {}, wire=int(res.wire or 0))


class RemoteSync:
    """The transport in use and the ``remote_call`` / ``remote_transport`` handlers.

    ``on_change(remote or None)`` tells the worker that the transport changed (None:
    back to ``proxy``), so its health reporting follows.
    """

    def __init__(self, host: WorkerHost,
                 on_change: Callable[[str | None], Awaitable[None]]) -> None:
        self.sql: Any = None  # md_connector.SqlTransport while ``motherduck`` is in use
        self._on_change = on_change
        self.tokens: BearerTokens | None = None
        self.own = OwnCommits()  # this device's commits, for the change feed
        self.own_idle = asyncio.Event()  # no batch of this device is in flight
        self.own_idle.set()
        if js.URLSearchParams.new(js.self.location.search).get("auth") == "app":
            self.tokens = BearerTokens(ask=lambda reason: host.emit(
                Event(type=protocol.TOKEN_NEEDED, payload={"reason": reason})))
        host.core.on(protocol.REMOTE_CALL, self.remote_call, when_failed=True)
        host.core.on(protocol.REMOTE_TRANSPORT, self.set_transport, when_failed=True)
        host.core.on(protocol.REMOTE_TOKEN, self.take_token, when_failed=True)

    async def take_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The page's answer to TOKEN_NEEDED; the reply never carries the token."""
        if self.tokens is None:
            raise ProtocolError("this worker was not started with getToken",
                                hint="pass getToken to connect() to use app tokens")
        self.tokens.give(payload)
        return {}

    async def fetch(self, call: HttpCall, ipc: Any) -> HttpAnswer:
        """One request to our server, as the app's user when it gave tokens (a 401 asks
        the app for a fresh token and retries once: the body is a Blob copy, still here)."""
        if self.tokens is None:
            return await _fetch(call, ipc)
        sent = await self.tokens.get()
        answer = await _fetch(call, ipc, sent)
        if answer.status == 401:
            self.tokens.refused(sent)
            answer = await _fetch(call, ipc, await self.tokens.get())
        return answer

    async def remote_call(self, payload: dict[str, Any]) -> dict[str, Any]:
        method = payload.get("method")
        if not isinstance(method, str):
            raise ProtocolError("remote_call needs a method")
        args = dict(_py(payload.get("args")) or {})
        raw = payload.get("ipc")
        ipc = None if _absent(raw) else raw
        if self.sql is not None:
            return await call_store(self.sql.store, method, args, ipc)
        table = args.get("table")
        if method != "apply_batch" or not isinstance(table, str):
            return await serve_call(method, args, ipc, self.fetch)
        # a batch this device commits: the feed announces it, this device has it already
        self.own.started(table)
        self.own_idle.clear()
        committed = False
        try:
            out = await serve_call(method, args, ipc, self.fetch)
            committed = not out.get("replayed")
            return out
        finally:
            self.own.finished(table, committed)
            if not self.own.busy():
                self.own_idle.set()

    async def set_transport(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Switch transport. The reply carries the transport and remote name, never the token."""
        transport = payload.get("transport") or "proxy"
        if transport not in TRANSPORTS:
            raise ProtocolError(f"unknown transport {transport!r}",
                                hint=f"use one of: {', '.join(TRANSPORTS)}")
        if transport == "proxy":
            self._close()
            await self._on_change(None)
            return {"transport": "proxy", "remote": None}
        token = payload.get("token")
        if not isinstance(token, str) or not token.strip():
            raise ProtocolError("the motherduck transport needs a token",
                                hint="paste a MotherDuck access token (app.motherduck.com)")
        from md_connector import open_transport  # only now: the proxy path never loads it

        opened = await open_transport(token.strip(), payload.get("database") or None,
                                      payload.get("service") or None)
        self._close()
        self.sql = opened
        await self._on_change(opened.remote)
        return {"transport": "motherduck", "remote": opened.remote}

    def _close(self) -> None:
        if self.sql is not None:
            self.sql.close()
            self.sql = None


def register(host: WorkerHost, on_change: Callable[[str | None], Awaitable[None]]) -> RemoteSync:
    return RemoteSync(host, on_change)
