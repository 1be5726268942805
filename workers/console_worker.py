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

from ducksync.worker.console_service import ConsoleService
from ducksync.worker.extensions import install_as_load, query_error
from worker_host import is_crash, js_message


class WasmConsoleConnection:
    """:class:`ducksync.worker.console_service.ConsoleConnection` over DuckDB-WASM."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def _call(self, promise: Any, sql: str = "") -> Any:
        try:
            return await promise
        except JsException as exc:  # a crash or a missing extension said plainly
            raise query_error(js_message(exc), sql, crashed=is_crash(exc)) from None

    async def run(self, sql: str) -> Any:
        # INSTALL does nothing in DuckDB-WASM: LOAD proves the extension usable.
        return await self._call(self.conn.run(install_as_load(sql) or sql), sql)

    async def rows(self, sql: str) -> list[list[Any]]:
        rows = await self._call(self.conn.rows(sql), sql)
        return list(rows.to_py())

    async def ipc(self, sql: str) -> Any:
        return await self._call(self.conn.ipc(sql), sql)

    async def copy_csv(self, sql: str) -> Any:
        return await self._call(self.conn.copyCSV(sql), sql)

    async def cancel(self) -> bool:
        return bool(await self._call(self.conn.cancel()))


async def start_console(db: Any, *, writing: Callable[[], AbstractContextManager[None]],
                        after_write: Callable[[], Awaitable[None]],
                        checkpoint: Callable[[], Awaitable[None]],
                        spawn: Callable[[Coroutine[Any, Any, None]], None]) -> ConsoleService:
    conn = await ducksync_host.console.consoleConnection(db)
    return ConsoleService(WasmConsoleConnection(conn), writing=writing, after_write=after_write,
                          checkpoint=checkpoint, spawn=spawn, now_ms=lambda: time.time() * 1000)
