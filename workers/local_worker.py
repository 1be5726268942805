"""The local worker: DuckDB-WASM with its database in OPFS, answering QUERY and EXEC.

Python orchestrates; Arrow bytes move: a query's result is DuckDB's Arrow IPC stream
(a JS Uint8Array that never enters the Pyodide heap), posted with its buffer in the
transfer list. DuckDB's own error message becomes a :class:`QueryError`.
"""

from __future__ import annotations

from typing import Any

import ducksync_host  # type: ignore[import-not-found]
from pyodide.ffi import JsException  # type: ignore[import-not-found]

from backup_worker import BackupWorker
from ducksync import protocol
from ducksync.errors import QueryError
from ducksync.worker import is_read_only
from sync_worker import SyncWorker
from worker_host import WorkerHost, js_message

# Offline, autoload hangs or fails obscurely; off, a missing extension is a clear error.
INIT_SQL = ("SET autoload_known_extensions=false", "SET autoinstall_known_extensions=false")


class LocalWorker:
    def __init__(self) -> None:
        self.host = WorkerHost()
        self.db: Any = None
        core = self.host.core
        core.on(protocol.QUERY, self.query)
        core.on(protocol.EXEC, self.exec)
        self.sync = SyncWorker(self.host)
        self.backup = BackupWorker(self.host, self.sync)

    async def init(self) -> None:
        core = self.host.core
        # DuckDB was started by the JS entry while Pyodide loaded; wait for what is left.
        core.booting("duckdb")
        try:
            self.db = await ducksync_host.duckdb
            ducksync_host.mark("python:duckdb")
        finally:
            for step, ms in ducksync_host.duckdbSteps.to_py().items():
                core.steps[step] = round(float(ms), 1)
        core.booting("duckdb-init")
        for sql in INIT_SQL:
            await self.db.query(sql)
        ducksync_host.mark("python:init-sql")
        await self.sync.start(self.db)
        ducksync_host.mark("python:sync-started")
        await self.backup.start(self.db)
        ducksync_host.mark("python:backup-started")
        core.settle(protocol.READY, duckdb={"mode": self.db.mode, "version": self.db.version,
                                            "path": ducksync_host.dbPath})

    async def _run(self, sql: object) -> Any:
        if not isinstance(sql, str) or not sql.strip():
            raise QueryError("no SQL given", hint="pass a non-empty SQL string")
        try:
            ipc = await self.db.query(sql)
            if not is_read_only(sql):
                await self.db.query("CHECKPOINT")  # make the write durable in OPFS now
                self.sync.wrote()  # a debounced sync follows local writes
        except JsException as exc:
            raise QueryError(js_message(exc)) from None
        return ipc

    async def query(self, payload: dict[str, Any]) -> dict[str, Any]:
        ipc = await self._run(payload.get("sql"))
        return {"ipc": ipc, "bytes": ipc.byteLength}

    async def exec(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self._run(payload.get("sql"))
        return {"ok": True}


def start() -> Any:
    worker = LocalWorker()
    return worker.host.start(worker.init)
