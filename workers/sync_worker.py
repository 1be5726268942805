"""The local worker's sync: DuckDB-WASM as the engine's LocalStore, the MessagePort as its
RemoteStore, and the requests/events of :mod:`ducksync.worker.sync_service`.

Data path: the engine's SQL runs on a DuckDB connection of its own (own temp tables
and transactions, never the page's). Arrow IPC results of DuckDB stay JS
``Uint8Array``s: Python hands them to the port (``remote_call``, buffer in the transfer
list), and IPC that arrives from the remote worker goes straight into
``insertArrowFromIPCStream``. Only small metadata results are decoded into tuples.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import ducksync_host  # type: ignore[import-not-found]
import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, JsProxy, create_proxy, to_js  # type: ignore[import-not-found]

from ducksync import protocol
from ducksync.engine.transaction_gate import TransactionGate
from ducksync.errors import QueryError, RemoteUnavailableError
from ducksync.protocol import Event
from ducksync.worker import Handler, checkpoint_deferred
from ducksync.worker.port_store import PortRemoteStore
from ducksync.worker.sql_params import bind
from ducksync.worker.sync_service import SyncService
from ducksync.worker.write_clock import WriteClock
from jsvalues import py
from worker_host import WorkerHost, js_message

sync_host = ducksync_host.sync  # workers/sync_host.mjs


def js_bytes(data: Any) -> Any:
    """A Uint8Array for ``data``: JS arrays pass through; Python bytes are copied once."""
    if isinstance(data, JsProxy):
        return data
    return to_js(bytes(data))


class WasmLocalStore:
    """:class:`ducksync.engine.store.LocalStore` over a DuckDB-WASM connection."""

    def __init__(self, conn: Any, gate: TransactionGate | None = None) -> None:
        self.conn = conn
        self.gate = gate
        self._files = 0

    async def _q(self, start: Callable[[], Any], sql: str) -> Any:
        """``start()``'s answer; with a gate, not inside another task's transaction."""
        entered: contextlib.AbstractAsyncContextManager[Any] = (
            contextlib.nullcontext() if self.gate is None else self.gate.statement(sql))
        try:
            async with entered:
                return await start()
        except JsException as exc:
            if getattr(exc, "name", None) == "TimeoutError":  # workers/sql_service.mjs's deadline
                raise RemoteUnavailableError(
                    f"the remote did not answer in time: {js_message(exc)}",
                    hint="retry (a sync retries on its own; pushes are exactly-once, so a "
                         f"repeat is safe); it was running: {sql[:200]}") from None
            raise QueryError(js_message(exc), hint=f"while running: {sql[:200]}") from None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        text = bind(sql, params)
        try:
            await self._q(lambda: self.conn.query(text), text)
        except QueryError as exc:
            if not checkpoint_deferred(text, exc.message):
                raise

    async def fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        text = bind(sql, params)
        rows = await self._q(lambda: self.conn.rows(text), text)
        return [tuple(r) for r in py(rows)]  # SQL NULL as None (JS null is JsNull)

    async def export_arrow(self, sql: str, params: Sequence[Any] = (), *, batch_rows: int,
                           batch_bytes: int) -> AsyncIterator[bytes]:
        text = bind(sql, params)
        chunks = await self._q(
            lambda: self.conn.exportChunks(text, batch_rows, batch_bytes), text)
        for chunk in chunks:
            yield chunk  # a JS Uint8Array; the engine only measures and forwards it

    async def ingest_arrow(self, table: str, ipc: bytes, *, append: bool = False) -> None:
        await self._q(lambda: self.conn.ingest(table, js_bytes(ipc), append), f"ingest {table}")

    def _scratch(self, sql: str) -> tuple[str, str]:
        """A fresh scratch file name, and ``sql`` with ``{file}`` replaced by it."""
        self._files += 1
        name = f"__ducksync_scratch_{id(self)}_{self._files}.csv"
        return sql.replace("{file}", "'" + name + "'"), name

    async def copy_out(self, sql: str) -> bytes:
        text, name = self._scratch(sql)
        data = await self._q(lambda: self.conn.copyOut(text, name), text)
        return bytes(data.to_bytes())

    async def copy_in(self, sql: str, data: bytes) -> None:
        text, name = self._scratch(sql)
        await self._q(lambda: self.conn.copyIn(text, name, js_bytes(data)), text)


class TrackedWasmLocalStore(WasmLocalStore):
    """The sync engine's store: also :class:`ducksync.engine.store.WriteTracked`, through
    the local worker's :class:`WriteClock` (every write but the engine's is counted)."""

    def __init__(self, conn: Any, clock: WriteClock) -> None:
        # the service reaches it from several tasks (a sync, the tables list, ...)
        super().__init__(conn, TransactionGate())
        self.clock = clock
        self.clean = clock.clean

    def write_token(self) -> str | None:
        return self.clock.write_token()


class SyncWorker:
    """The sync requests of the local worker (``handlers``) and the automatic triggers.

    The local worker creates it after start-up, on demand (workers/local_worker.py), and
    routes the SYNC_* requests to ``handlers`` once :meth:`start` is done.
    """

    def __init__(self, host: WorkerHost, clock: WriteClock) -> None:
        self.host, self.clock = host, clock
        self.service: SyncService | None = None
        self._proxies: list[Any] = []
        self.handlers: dict[str, Handler] = {
            protocol.SYNC: self._sync, protocol.SYNC_CANCEL: self._cancel,
            protocol.SYNC_CONFIGURE: self._configure, protocol.SYNC_STATUS: self._status,
            protocol.SYNC_CONFLICTS: self._conflicts, protocol.SYNC_RESOLVE: self._resolve,
            protocol.SYNC_TABLES: self._tables, protocol.SYNC_LOG: self._log,
            protocol.SYNC_DROP: self._drop, protocol.SYNC_REJECTIONS: self._rejections,
            protocol.SYNC_REJECTION: self._rejection, protocol.SYNC_SUBSCRIBE: self._subscribe,
            protocol.SYNC_REMOTE_CHANGED: self._remote_changed}

    async def start(self, db: Any) -> None:
        conn = await sync_host.syncConnection(db)
        remote = PortRemoteStore(transport=self._transport)
        self.service = SyncService(local=TrackedWasmLocalStore(conn, self.clock), remote=remote,
                                   emit=self._emit)
        self.service.status.online = bool(js.navigator.onLine)
        self.service.schedule.online = self.service.status.online
        if js.URLSearchParams.new(js.self.location.search).get("autosync") == "off":
            # connect({autoSync: false}): syncs only when asked (and on reconnect, as
            # with interval 0), decided before the first automatic sync could start.
            self._interval_set = True
            self.service.schedule.start_pending = False
            self.service.schedule.on_remote = False  # the change feed only reports
            self.service.configure(interval_s=0, on_write=False)
        held = js.URLSearchParams.new(js.self.location.search).get("tables")
        if held:  # connect({tables: [...]}): stored before the first sync picks its tables
            self.service.hold_at_start = [str(t) for t in json.loads(str(held))]
        for name in ("online", "offline"):
            listener = create_proxy(lambda _e, on=name == "online": self._online(on))
            self._proxies.append(listener)
            js.self.addEventListener(name, listener)
        self.host.spawn(self._server_config())

    async def _server_config(self) -> None:
        """The server's SYNC_INTERVAL, unless the page set one; then the trigger loop,
        whose first sync starts at once: the remote answered (or could not: then the
        sync fails and retries with backoff, or runs when the probe sees it back)."""
        assert self.service is not None
        await self.host.port_ready.wait()
        try:
            config = await self.service.remote.config()
            if not getattr(self, "_interval_set", False):
                self.service.configure(interval_s=float(config.get("sync_interval_s") or 0))
        except Exception as exc:  # offline at start: keep the default interval
            js.console.warn(f"[ducksync sync] no server config: {exc}")
        await self.service.run_forever()

    def _online(self, online: bool) -> None:
        if self.service is not None:
            self.service.set_online(online)

    def wrote(self) -> None:
        if self.service is not None:
            self.service.wrote()

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        self.host.emit(Event(type=kind, payload=payload))

    async def _transport(self, method: str, args: dict[str, Any], ipc: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {"method": method, "args": args}
        rows_sent = 0
        if ipc is not None:
            data = js_bytes(ipc)
            if method == "apply_batch":
                rows_sent = int(sync_host.ipcRows(data))
            payload["ipc"] = data
        reply = await self.host.peer_request(protocol.REMOTE_CALL, payload, timeout=900.0)
        out = {k: py(v) for k, v in reply.unwrap().items()}
        if out.get("ipc") is not None and int(out["ipc"].byteLength):  # empty: verified
            out["rows"] = int(sync_host.ipcRows(out["ipc"]))
        out["rows_sent"] = rows_sent
        return out

    def _svc(self) -> SyncService:
        if self.service is None:
            raise QueryError("sync is not ready yet", hint="wait for the ready phase")
        return self.service

    async def _sync(self, p: dict[str, Any]) -> dict[str, Any]:
        p = {k: py(v) for k, v in p.items()}
        tables = p.get("tables")
        return await self._svc().sync(
            tables=list(tables) if tables else None, direction=str(p.get("direction") or "both"),
            policy=p.get("policy"), batch_rows=p.get("batch_rows"),
            trigger=str(p.get("trigger") or "manual"),
            allow_mass_delete=bool(p.get("allow_mass_delete")))

    async def _cancel(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"cancelled": self._svc().cancel()}

    async def _configure(self, p: dict[str, Any]) -> dict[str, Any]:
        p = {k: py(v) for k, v in p.items()}
        if p.get("online") is not None:  # the remote worker's probe, relayed by the page
            self._online(bool(p["online"]))
            return self._svc().configure()
        if p.get("interval_s") is not None:
            self._interval_set = True
        return self._svc().configure(
            interval_s=p.get("interval_s"), on_write=p.get("on_write"),
            debounce_s=p.get("debounce_s"), policy=p.get("policy"),
            batch_rows=p.get("batch_rows"))

    async def _remote_changed(self, p: dict[str, Any]) -> dict[str, Any]:
        """From the remote worker's change feed (workers/remote_feed.py)."""
        p = {k: py(v) for k, v in p.items()}
        feed, keys = p.get("feed"), p.get("keys")
        hints = {str(t): [str(k) for k in ks] for t, ks in keys.items()
                 if isinstance(ks, list)} if isinstance(keys, dict) else None
        return self._svc().remote_changed([str(t) for t in p.get("tables") or []],
                                          dict(feed) if isinstance(feed, dict) else None,
                                          hints)

    async def _status(self, _: dict[str, Any]) -> dict[str, Any]:
        return self._svc().snapshot()

    async def _conflicts(self, p: dict[str, Any]) -> dict[str, Any]:
        p = {k: py(v) for k, v in p.items()}
        return {"conflicts": await self._svc().conflicts(p.get("table"))}

    async def _resolve(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.clock.writing():  # the engine's store, but not a sync: the table moves
            return await self._svc().resolve(str(p.get("table")), str(p.get("key")),
                                             str(p.get("take")))

    async def _rejections(self, p: dict[str, Any]) -> dict[str, Any]:
        p = {k: py(v) for k, v in p.items()}
        return {"rejections": await self._svc().rejections(p.get("table"))}

    async def _rejection(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.clock.writing():  # discard rewrites the table: the page wrote
            return await self._svc().settle_rejection(str(p.get("table")), str(p.get("key")),
                                                      str(p.get("action")))

    async def _drop(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.clock.writing():  # the engine's store, but not a sync: the table goes
            return await self._svc().drop_everywhere(str(p.get("table")))

    async def _subscribe(self, p: dict[str, Any]) -> dict[str, Any]:
        p = {k: py(v) for k, v in p.items()}
        if not any(p.get(k) is not None for k in ("only", "table")):
            return await self._svc().subscriptions()
        tables = p.get("tables")
        with self.clock.writing():  # unsubscribing may drop the local copy
            return await self._svc().subscribe(
                only=bool(p.get("only")), tables=None if tables is None else list(tables),
                table=None if p.get("table") is None else str(p["table"]),
                held=bool(p.get("held", True)), keep_local=bool(p.get("keep_local", True)))

    async def _tables(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"tables": await self._svc().tables()}

    async def _log(self, p: dict[str, Any]) -> dict[str, Any]:
        p = {k: py(v) for k, v in p.items()}
        return {"runs": await self._svc().sync_log(int(p.get("limit") or 50))}
