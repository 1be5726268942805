"""The remote worker's side of sync: answers ``remote_call`` from the local worker's port
by calling our server's sync API (``ducksync.worker.remote_calls`` does the mapping).

The request's IPC body (transferred to this worker) goes to ``fetch`` as is; an Arrow
answer comes back as a JS ``Uint8Array`` and is transferred on to the local worker.
Python never copies or decodes either.
"""

from __future__ import annotations

from typing import Any

import ducksync_host  # type: ignore[import-not-found]
import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, JsProxy, to_js  # type: ignore[import-not-found]

from ducksync import protocol
from ducksync.errors import ProtocolError, RemoteUnavailableError
from ducksync.worker.remote_calls import HttpAnswer, HttpCall, serve_call
from jsvalues import clean
from worker_host import WorkerHost, js_message


def _py(value: Any) -> Any:
    return clean(value.to_py() if isinstance(value, JsProxy) else value)


def _absent(value: Any) -> bool:
    """None or JS null/undefined, tested without ``to_py()`` (which would copy a whole IPC
    Uint8Array into the Pyodide heap just to look at it)."""
    return value is None or type(value).__name__ in ("JsNull", "JsUndefined")


async def _fetch(call: HttpCall, ipc: Any) -> HttpAnswer:
    json = to_js(call.json, dict_converter=js.Object.fromEntries) \
        if call.json is not None else None
    try:
        res = await ducksync_host.syncFetch(call.method, call.path, to_js(call.query), json,
                                         ipc if call.body_ipc else None)
    except JsException as exc:
        raise RemoteUnavailableError(
            f"cannot reach the server: {js_message(exc)}",
            hint="your changes are kept locally; sync retries when the server is back") \
            from None
    return HttpAnswer(status=int(res.status), json=_py(res.json),
                      ipc=None if _absent(res.ipc) else res.ipc,
                      headers=_py(res.headers) or {}, wire=int(res.wire or 0))


async def remote_call(payload: dict[str, Any]) -> dict[str, Any]:
    method = payload.get("method")
    if not isinstance(method, str):
        raise ProtocolError("remote_call needs a method")
    args = _py(payload.get("args")) or {}
    ipc = payload.get("ipc")
    return await serve_call(method, dict(args), None if _absent(ipc) else ipc, _fetch)


def register(host: WorkerHost) -> None:
    host.core.on(protocol.REMOTE_CALL, remote_call, when_failed=True)
