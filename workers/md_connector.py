"""The ``motherduck`` transport in the remote worker: SqlRemoteStore on a SQL service worker.

The service (workers/sql_service.mjs: MotherDuck's WASM client, or the browser tests'
loopback stand-in) runs in a nested worker opened per connect attempt; its connection
has the shape of the local worker's sync connection, so the local worker's
``WasmLocalStore`` is the connector here too (parameters bound as literals, metadata
rows decoded in JS, IPC bytes passed through as JS ``Uint8Array``s), with scripts
(:class:`ServiceConnector`): one call to the service per write transaction. The token
lives in this worker's memory (and the service worker's) only; errors are scrubbed of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ducksync_host  # type: ignore[import-not-found]
import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

from ducksync.stores.connector import Step
from ducksync.stores.sql_remote import SqlRemoteStore
from ducksync.worker.sql_params import bind
from ducksync.worker.store_calls import WHOLE
from ducksync.worker.transport import login_error, service_url
from jsvalues import py
from sync_worker import WasmLocalStore
from worker_host import js_message


class ServiceConnector(WasmLocalStore):
    """The service's connection as a :class:`~ducksync.stores.connector.ScriptConnector`:
    a script is one message to the service worker (``script``/``scriptChunks`` in
    workers/sql_service.mjs), so a write's whole transaction is one call, as on the
    server's native connector, instead of one call per statement."""

    @staticmethod
    def _texts(steps: Sequence[Step]) -> tuple[Any, str]:
        """The bound statements as a JS array, and what a failure's hint shows."""
        texts = [bind(sql, params) for sql, params in steps]
        return to_js(texts), f"a script of {len(texts)} statements: " + " ; ".join(texts)

    async def script(self, steps: Sequence[Step]) -> list[tuple[Any, ...]]:
        texts, shown = self._texts(steps)
        rows = await self._q(self.conn.script(texts), shown)
        return [tuple(r) for r in py(rows)]

    async def script_arrow(self, steps: Sequence[Step], *, batch_rows: int,
                           batch_bytes: int) -> list[Any]:
        texts, shown = self._texts(steps)
        chunks = await self._q(self.conn.scriptChunks(texts, batch_rows, batch_bytes), shown)
        return list(chunks)  # JS Uint8Arrays: the store only forwards them


@dataclass
class SqlTransport:
    """An open service: the store the ``remote_call`` messages go to, and its worker."""

    store: SqlRemoteStore
    handle: Any
    remote: str

    def close(self) -> None:
        self.handle.close()


async def open_transport(token: str, database: str | None, service: str | None) -> SqlTransport:
    """Open a fresh service worker and log in; on any failure it is already terminated."""
    host = ducksync_host.sqlService
    url = service_url(service, default=str(host.defaultURL), origin=str(host.origin),
                      hostname=str(host.hostname))
    options = to_js({"url": url, "token": token, "database": database},
                    dict_converter=js.Object.fromEntries)
    try:
        handle = await host.open(options)
    except JsException as exc:
        raise login_error(js_message(exc), token, database) from None
    store = SqlRemoteStore(connector=ServiceConnector(handle.conn), chunk_bytes=WHOLE)
    return SqlTransport(store=store, handle=handle, remote=f"md:{handle.database}")
