"""The engine's :class:`RemoteStore`, spoken over a message channel (the browser's MessagePort).

Each method becomes one ``remote_call`` ``{method, args}``; IPC request bodies
ride next to it as ``ipc`` (transferred, never copied, never decoded here), and
IPC answers come back the same way. The transport is injected, so this class is
pure: CPython tests drive it against the real server; the local worker plugs in
its MessagePort (``workers/sync_worker.py``).

``observer`` sees every call's size (rows and bytes, as the transport measured
them) for the progress bar and ``ducksync.sync_log``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from ducksync.engine.limits import too_large
from ducksync.engine.store import ApplyResult, ColumnInfo, PageEnd, Survey, TableInfo
from ducksync.sync_routes import page_end_told

__all__ = ["CallStats", "PortRemoteStore", "Transport", "size_of"]

# (method, args, ipc or None) -> reply payload {"value", "ipc"?, "rows"?, "wire"?, ...}
Transport = Callable[[str, dict[str, Any], Any], Awaitable[dict[str, Any]]]


class Observer(Protocol):
    def __call__(self, stats: CallStats) -> Awaitable[None]: ...


@dataclass(frozen=True, kw_only=True)
class CallStats:
    """One call: which table, rows/bytes sent and received (raw), bytes on the wire."""

    method: str
    table: str | None
    rows_sent: int
    bytes_sent: int
    rows_received: int
    bytes_received: int
    wire_bytes: int


def size_of(data: Any) -> int:
    """Byte length of ``bytes`` or a JS typed array proxy (without copying it)."""
    if data is None:
        return 0
    length = getattr(data, "byteLength", None)
    return int(length) if length is not None else len(data)


class PortRemoteStore:
    """:class:`ducksync.engine.store.RemoteStore` over an injected message transport."""

    def __init__(self, *, transport: Transport, observer: Observer | None = None) -> None:
        self._transport = transport
        self._observer = observer
        self._max_body: int | None = None  # as the last max_body_bytes() answered
        self._limit_surveyed = False  # _max_body came with this run's survey

    async def call(self, method: str, args: dict[str, Any],
                   ipc: Any = None) -> dict[str, Any]:
        sent = size_of(ipc)
        rows_sent = 0
        reply = await self._transport(method, args, ipc)
        if self._observer is not None:
            rows_sent = int(reply.get("rows_sent") or 0)
            await self._observer(CallStats(
                method=method, table=args.get("table"), rows_sent=rows_sent, bytes_sent=sent,
                rows_received=int(reply.get("rows") or 0),
                bytes_received=size_of(reply.get("ipc")),
                wire_bytes=int(reply.get("wire") or 0)))
        return reply

    @staticmethod
    def _ipc(reply: dict[str, Any]) -> Any:
        data = reply.get("ipc")
        return data if data is not None and size_of(data) else b""

    async def config(self) -> dict[str, Any]:
        """The server's client knobs (``GET /api/v1/sync/config``)."""
        return cast(dict[str, Any], (await self.call("config", {}))["value"])

    async def max_body_bytes(self) -> int | None:
        """The server's request body limit (:class:`ducksync.engine.store.BodyLimited`);
        None for a remote without one. Asked afresh (the remote worker may have switched
        transport since), by the engine only when it is about to push: a run's survey
        answers it, so then no call is needed."""
        if self._limit_surveyed:  # each run surveys first: this run's answer
            return self._max_body
        limit = (await self.config()).get("max_body_bytes")
        self._max_body = int(limit) if limit else None
        return self._max_body

    async def remote_id(self) -> str:
        """Asked on every run, never cached here: the remote worker may have switched
        transport (and so database) since the last call."""
        return str((await self.call("remote_id", {}))["value"])

    async def list_tables(self) -> list[TableInfo]:
        return cast(list[TableInfo], (await self.call("list_tables", {}))["value"])

    async def survey(self, tables: list[str] | None, key: list[str] | None) -> Survey:
        answer = cast(Survey, (await self.call("survey", {"tables": tables, "key": key}))["value"])
        limit = answer.get("max_body_bytes")  # absent: a remote without one (direct SQL)
        self._max_body, self._limit_surveyed = (int(limit) if limit else None), True
        return answer

    async def describe_table(self, table: str) -> TableInfo | None:
        return cast(TableInfo | None,
                    (await self.call("describe_table", {"table": table}))["value"])

    async def create_table(self, table: str, columns: list[ColumnInfo],
                           primary_key: list[str]) -> None:
        await self.call("create_table", {"table": table, "columns": list(columns),
                                         "primary_key": list(primary_key)})

    async def add_columns(self, table: str, columns: list[ColumnInfo]) -> None:
        await self.call("add_columns", {"table": table, "columns": list(columns)})

    async def drop_table(self, table: str) -> bool:
        return bool((await self.call("drop_table", {"table": table}))["value"])

    async def bucket_checksums(self, table: str, key: list[str], modulus: int,
                               parent_modulus: int, parents: list[int]) -> bytes:
        reply = await self.call("bucket_checksums", {
            "table": table, "key": list(key), "modulus": int(modulus),
            "parent_modulus": int(parent_modulus), "parents": [int(p) for p in parents]})
        return cast(bytes, self._ipc(reply))

    async def bucket_hashes(self, table: str, key: list[str], modulus: int,
                            buckets: list[int]) -> bytes:
        reply = await self.call("bucket_hashes", {
            "table": table, "key": list(key), "modulus": int(modulus),
            "buckets": [int(b) for b in buckets]})
        return cast(bytes, self._ipc(reply))

    async def fetch_rows(self, table: str, key: list[str], keys_ipc: bytes, *,
                         batch_rows: int) -> AsyncIterator[bytes]:
        reply = await self.call("fetch_rows", {"table": table, "key": list(key),
                                               "batch_rows": int(batch_rows)}, keys_ipc)
        yield cast(bytes, self._ipc(reply))

    async def fetch_rows_after(self, table: str, column: str | list[str],
                               after: str | list[str] | None, *, batch_rows: int,
                               limit: int | None = None, hashes: bool = True,
                               told: PageEnd | None = None) -> AsyncIterator[bytes]:
        reply = await self.call("fetch_rows_after", {"table": table, "column": column,
                                                     "after": after,
                                                     "batch_rows": int(batch_rows),
                                                     "limit": limit, "hashes": bool(hashes)})
        if told is not None:  # as the remote worker's transport told it, or nothing
            sent = reply.get("told")
            if isinstance(sent, dict):
                told.update(page_end_told(sent.get("rows"), sent.get("last")))
        yield cast(bytes, self._ipc(reply))

    async def apply_batch(self, table: str, key: list[str], batch_id: str,
                          ipc: bytes, *, checksum: str | None = None) -> ApplyResult:
        if self._max_body is not None and size_of(ipc) > self._max_body:
            # the engine cuts batches under the limit, so this is one row (no pyarrow
            # here to name its key); never sent, so never a 413 mid-upload
            raise too_large(table, "a row", size_of(ipc), self._max_body, "the server")
        reply = await self.call("apply_batch", {"table": table, "key": list(key),
                                                "batch_id": batch_id, "checksum": checksum},
                                ipc)
        return {"batch_id": str(reply.get("batch_id") or batch_id),
                "replayed": bool(reply.get("replayed")),
                "verified": bool(reply.get("verified")), "result": self._ipc(reply)}

    async def batch_result(self, batch_id: str) -> ApplyResult | None:
        reply = await self.call("batch_result", {"batch_id": batch_id})
        if not reply.get("found", True):
            return None
        return {"batch_id": str(reply.get("batch_id") or batch_id),
                "replayed": bool(reply.get("replayed")),
                "verified": bool(reply.get("verified")), "result": self._ipc(reply)}

    async def ack_batches(self, batch_ids: list[str]) -> None:
        await self.call("ack_batches", {"batch_ids": list(batch_ids)})
