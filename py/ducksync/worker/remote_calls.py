"""RemoteStore calls as plain messages, and those messages as sync-API HTTP requests.

The local worker's :class:`~ducksync.worker.port_store.PortRemoteStore` turns each
``RemoteStore`` method into a ``remote_call`` request ``{method, args}`` (plus the
IPC body as a transferred ``Uint8Array`` under ``ipc``). The remote worker maps it
with :func:`http_call` to one request of the sync API (its routes are declared once, in
``ducksync.sync_routes``, which the server and ``ducksync.stores.http`` use too), and
maps the answer back with :func:`reply_value`.
Pure functions: no I/O, tested in CPython against the real server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ducksync.errors import DucksyncError, ProtocolError, RemoteUnavailableError, error_from_wire
from ducksync.sync_routes import ROUTES, page_told, route_path

__all__ = ["METHODS", "Fetch", "HttpAnswer", "HttpCall", "error_for", "http_call", "reply_value",
           "serve_call"]

METHODS: Final = frozenset(ROUTES)


@dataclass(frozen=True, kw_only=True)
class HttpCall:
    """One HTTP request: ``body_ipc`` means the request's ``ipc`` is the body."""

    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    json: Any = None
    body_ipc: bool = False
    reply_ipc: bool = False
    not_found_ok: bool = False


def _name(args: dict[str, Any], field_name: str) -> str | None:
    name = args.get(field_name)
    if name is None:
        return None
    if not isinstance(name, str) or not name:
        raise ProtocolError(f"expected a non-empty name, got {name!r}")
    return name


def _keys(args: dict[str, Any]) -> list[tuple[str, str]]:
    return [("key", str(k)) for k in args.get("key") or []]


def _query(method: str, args: dict[str, Any]) -> list[tuple[str, str]]:
    if method == "fetch_rows":
        return [*_keys(args), ("batch_rows", str(int(args["batch_rows"])))]
    if method == "apply_batch":
        checksum = args.get("checksum")
        return _keys(args) + ([("checksum", str(checksum))] if checksum else [])
    return []


def _json(method: str, args: dict[str, Any]) -> Any:
    if method == "survey":
        return {"tables": args.get("tables"), "key": args.get("key")}
    if method == "create_table":
        return {"columns": args["columns"], "primary_key": args["primary_key"]}
    if method == "add_columns":
        return {"columns": args["columns"]}
    if method == "bucket_checksums":
        return {"key": args["key"], "modulus": args["modulus"],
                "parent_modulus": args["parent_modulus"], "parents": args["parents"]}
    if method == "bucket_hashes":
        return {"key": args["key"], "modulus": args["modulus"], "buckets": args["buckets"]}
    if method == "fetch_rows_after":
        return {"column": args["column"], "after": args["after"],
                "batch_rows": int(args["batch_rows"]), "limit": args.get("limit"),
                "hashes": args.get("hashes", True) is not False}
    if method == "ack_batches":
        return {"batch_ids": list(args["batch_ids"])}
    return None


def http_call(method: str, args: dict[str, Any]) -> HttpCall:
    """The sync-API request for ``method(**args)`` (its route: ``ducksync.sync_routes``)."""
    route = ROUTES.get(method)
    if route is None:
        raise ProtocolError(f"unknown remote method {method!r}",
                            hint=f"expected one of: {', '.join(sorted(METHODS))}")
    try:
        path = route_path(route, table=_name(args, "table"), batch_id=_name(args, "batch_id"))
    except ValueError as exc:
        raise ProtocolError(f"expected a non-empty name: {exc}") from exc
    return HttpCall(method=route.verb, path=path, query=_query(method, args),
                    json=_json(method, args) if route.body == "json" else None,
                    body_ipc=route.body == "ipc", reply_ipc=route.reply == "ipc",
                    not_found_ok=route.may_be_absent)


def error_for(status: int, body: Any, request_id: str | None = None) -> DucksyncError:
    """The typed error for a failed answer (the server's own error when it sent one),
    with the server's ``X-Request-ID``: the line to find in its log."""
    error = _answered_error(status, body)
    error.request_id = error.request_id or request_id
    return error


def _answered_error(status: int, body: Any) -> DucksyncError:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return error_from_wire(body["error"])
    if status in (502, 503, 504):
        return RemoteUnavailableError(f"the server answered HTTP {status}",
                                      hint="it is restarting or overloaded; sync retries later")
    return RemoteUnavailableError(f"the server answered HTTP {status}",
                                  hint="check the server log for this request")


def reply_value(method: str, call: HttpCall, status: int, body: Any,
                headers: dict[str, str]) -> dict[str, Any]:
    """The reply payload (minus the IPC bytes) for an HTTP answer; raises on errors."""
    if status == 404 and call.not_found_ok:
        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
        if code == "not_found":
            return {"value": None, "found": False}
    if status >= 400:
        raise error_for(status, body, headers.get("x-request-id"))
    if method == "describe_table":
        return {"value": body.get("table") if isinstance(body, dict) else None}
    if method == "remote_id":
        return {"value": body.get("remote_id") if isinstance(body, dict) else None}
    if method == "drop_table":
        return {"value": bool(body.get("dropped")) if isinstance(body, dict) else False}
    if method in ("apply_batch", "batch_result"):
        return {"value": None, "found": True,
                "batch_id": headers.get("x-ducksync-batch-id"),
                "replayed": headers.get("x-ducksync-replayed") == "true",
                "verified": headers.get("x-ducksync-verified") == "true"}
    if method == "fetch_rows_after":
        return {"value": None, "told": page_told(headers)}
    return {"value": None if call.reply_ipc else body}


@dataclass(frozen=True, kw_only=True)
class HttpAnswer:
    """What a fetch returned: JSON body (errors, metadata) or IPC bytes, and sizes."""

    status: int
    json: Any = None
    ipc: Any = None  # bytes or a JS Uint8Array proxy: passed through, never decoded
    headers: dict[str, str] = field(default_factory=dict)
    wire: int = 0  # bytes on the wire (compressed size when the server compressed)
    rows: int = 0  # rows in ``ipc`` (counted by the transport)


Fetch = Callable[[HttpCall, Any], Awaitable[HttpAnswer]]
RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})


async def serve_call(method: str, args: dict[str, Any], ipc: Any, fetch: Fetch, *,
                     retries: int = 3, sleep: Callable[[float], Awaitable[None]] | None = None,
                     ) -> dict[str, Any]:
    """Answer one ``remote_call``: the HTTP request, retries on 429/5xx, the reply payload.

    Retrying is safe for every call, writes included: batches are idempotent (ledger).
    ``fetch`` must leave ``ipc`` usable (a fetch body is copied, not detached).
    """
    call = http_call(method, args)
    wait = sleep or asyncio.sleep
    answer: HttpAnswer | None = None
    for attempt in range(retries + 1):
        answer = await fetch(call, ipc)
        if answer.status not in RETRY_STATUSES or attempt == retries:
            break
        await wait(0.25 * 2 ** attempt)
    assert answer is not None
    out = reply_value(method, call, answer.status, answer.json, answer.headers)
    if call.reply_ipc and out.get("found", True):
        out["ipc"], out["rows"] = answer.ipc, answer.rows
    out["wire"] = answer.wire
    return out
