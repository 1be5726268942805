"""The SQL console in the local worker: :class:`ConsoleService` over DuckDB-WASM.

The service's logic is pure (``ducksync.worker.console_service``, tested in CPython);
this module is its edge: the console's own DuckDB connection (``console_host.mjs``)
with JS failures turned into :class:`QueryError` carrying DuckDB's message.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractContextManager
from typing import Any

import ducksync_host  # type: ignore[import-not-found]
from pyodide.ffi import JsException  # type: ignore[import-not-found]

from ducksync.errors import QueryError
from ducksync.worker.console_service import ConsoleService
from ducksync.worker.extensions import crash_error, explain, install_as_load, is_wasm_crash
from worker_host import js_message


class WasmConsoleConnection:
    """:class:`ducksync.worker.console_service.ConsoleConnection` over DuckDB-WASM.

    Errors read as the page's own queries' do (``workers/local_worker.py``): a missing
    extension is named with the way out, ``INSTALL x`` is run as ``LOAD x`` (the step
    that proves it usable here), and a WebAssembly crash restarts DuckDB (``restart``)."""

    def __init__(self, conn: Any, restart: Callable[[str], Awaitable[None]]) -> None:
        self.conn = conn
        self._restart = restart

    async def _call(self, promise: Any, sql: str) -> Any:
        try:
            return await promise
        except JsException as exc:
            message = js_message(exc)
            if is_wasm_crash(message):
                await self._restart(message)
                raise crash_error(message, sql) from None
            raise explain(message, sql) or QueryError(message) from None

    async def run(self, sql: str) -> Any:
        return await self._call(self.conn.run(install_as_load(sql) or sql), sql)

    async def rows(self, sql: str) -> list[list[Any]]:
        rows = await self._call(self.conn.rows(sql), sql)
        return list(rows.to_py())

    async def ipc(self, sql: str) -> Any:
        return await self._call(self.conn.ipc(sql), sql)

    async def copy_csv(self, sql: str) -> Any:
        return await self._call(self.conn.copyCSV(sql), sql)

    async def cancel(self) -> bool:
        return bool(await self._call(self.conn.cancel(), "cancel"))


async def start_console(db: Any, *, writing: Callable[[], AbstractContextManager[None]],
                        after_write: Callable[[], Awaitable[None]],
                        checkpoint: Callable[[], Awaitable[None]],
                        spawn: Callable[[Coroutine[Any, Any, None]], None],
                        restart: Callable[[str], Awaitable[None]]) -> ConsoleService:
    conn = await ducksync_host.console.consoleConnection(db)
    return ConsoleService(WasmConsoleConnection(conn, restart), writing=writing,
                          after_write=after_write, checkpoint=checkpoint, spawn=spawn,
                          now_ms=lambda: time.time() * 1000)
