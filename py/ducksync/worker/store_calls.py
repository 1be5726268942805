"""``remote_call`` messages answered by a RemoteStore in this worker (no HTTP in between).

The local worker's :class:`~ducksync.worker.port_store.PortRemoteStore` sends each
RemoteStore method as ``{method, args}`` (+ ``ipc``). With the ``proxy`` transport
the remote worker maps that to our server's sync API
(:mod:`ducksync.worker.remote_calls`); with ``motherduck`` it calls a
:class:`~ducksync.stores.sql_remote.SqlRemoteStore` right here. This module is that
second mapping, into the same reply payloads, so PortRemoteStore (and the engine
behind it) cannot tell the transports apart. Pure: tested in CPython over a real
DuckDB.
"""

from __future__ import annotations

from typing import Any

from ducksync.engine.store import ApplyResult, PageEnd, RemoteStore
from ducksync.errors import ProtocolError
from ducksync.worker.port_store import size_of
from ducksync.worker.remote_calls import METHODS

__all__ = ["WHOLE", "call_store"]

WHOLE = 1 << 30  # rows (and, for SqlRemoteStore's chunk_bytes, bytes): "one chunk"


def _ipc(data: Any) -> dict[str, Any]:
    return {"value": None, "ipc": data, "wire": size_of(data)}


def _applied(res: ApplyResult | None) -> dict[str, Any]:
    if res is None:
        return {"value": None, "found": False}
    return {"value": None, "found": True, "batch_id": res["batch_id"],
            "replayed": bool(res["replayed"]), "verified": bool(res.get("verified")),
            **_ipc(res["result"])}


async def _one(chunks: Any) -> Any:
    """The single chunk of a fetch (the store is built to answer in one; see below)."""
    out = [c async for c in chunks]
    if len(out) != 1:
        raise ProtocolError(f"expected one IPC chunk, got {len(out)}",
                            hint="build the SqlRemoteStore with a large chunk_bytes")
    return out[0]


async def call_store(store: RemoteStore, method: str, args: dict[str, Any],
                     ipc: Any) -> dict[str, Any]:
    """Answer one ``remote_call`` with ``store``; errors propagate as the store raised them."""
    if method not in METHODS:
        raise ProtocolError(f"unknown remote method {method!r}",
                            hint=f"expected one of: {', '.join(sorted(METHODS))}")
    a = args
    if method == "config":
        return {"value": {}}  # no server: the page's own sync settings apply
    if method == "remote_id":
        return {"value": await store.remote_id()}
    if method == "list_tables":
        return {"value": await store.list_tables()}
    if method == "survey":
        tables, key = a.get("tables"), a.get("key")
        return {"value": await store.survey(None if tables is None else list(tables),
                                            None if key is None else list(key))}
    if method == "describe_table":
        return {"value": await store.describe_table(a["table"])}
    if method == "create_table":
        await store.create_table(a["table"], list(a["columns"]), list(a["primary_key"]))
        return {"value": None}
    if method == "add_columns":
        await store.add_columns(a["table"], list(a["columns"]))
        return {"value": None}
    if method == "drop_table":
        return {"value": await store.drop_table(a["table"])}
    if method == "bucket_checksums":
        return _ipc(await store.bucket_checksums(a["table"], list(a["key"]), int(a["modulus"]),
                                                 int(a["parent_modulus"]), list(a["parents"])))
    if method == "bucket_hashes":
        return _ipc(await store.bucket_hashes(a["table"], list(a["key"]), int(a["modulus"]),
                                              list(a["buckets"])))
    # A fetch answers in ONE IPC stream, as the sync API's does (PortRemoteStore reads
    # one); ``batch_rows`` bounds the engine's own batches, not this reply.
    if method == "fetch_rows":
        return _ipc(await _one(store.fetch_rows(a["table"], list(a["key"]), ipc,
                                                batch_rows=WHOLE)))
    if method == "fetch_rows_after":
        told: PageEnd = {}
        out = _ipc(await _one(store.fetch_rows_after(a["table"], a["column"], a.get("after"),
                                                     batch_rows=WHOLE, limit=a.get("limit"),
                                                     hashes=a.get("hashes", True) is not False,
                                                     told=told)))
        return {**out, "told": told}
    if method == "apply_batch":
        return _applied(await store.apply_batch(a["table"], list(a["key"]), a["batch_id"], ipc,
                                                checksum=a.get("checksum")))
    if method == "batch_result":
        return _applied(await store.batch_result(a["batch_id"]))
    await store.ack_batches(list(a["batch_ids"]))  # the last of METHODS
    return {"value": None}
