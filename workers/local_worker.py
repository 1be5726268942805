"""The local worker: DuckDB-WASM with its database in OPFS, answering QUERY and EXEC.

Python orchestrates; Arrow bytes move: a query's result is DuckDB's Arrow IPC stream
(a JS Uint8Array that never enters the Pyodide heap), posted with its buffer in the
transfer list. DuckDB's own error message becomes a :class:`QueryError`.

Sync and export/import (``sync_worker``, ``backup_worker``) are imported and started
*after* the worker reports ready: the first query needs neither, and their imports and
DuckDB connections would compete with DuckDB's start on a 2-core machine
(docs/startup.md). They start :data:`SERVICES_DELAY_S` after ready, or at once when a
SYNC_* / BACKUP_* request arrives first (it waits for the start). A sync cut off by a
reload still resumes then: the sync service checks the outbox first thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from typing import Any, Final

import ducksync_host  # type: ignore[import-not-found]
from pyodide.ffi import JsException, create_proxy, to_js  # type: ignore[import-not-found]

from ducksync import protocol
from ducksync.errors import QueryError
from ducksync.worker import Handler, cannot_write, checkpoint_deferred, is_read_only, query_types
from ducksync.worker.extensions import install_as_load, query_error
from ducksync.worker.sql import first_sync_hint
from ducksync.worker.write_clock import WriteClock
from worker_host import WorkerHost, is_crash, js_message

# Offline, autoload hangs or fails obscurely; off, a missing extension is a clear error.
# A commit whose WAL passes 1 MB checkpoints at once (DuckDB's default waits for 16 MB):
# DuckDB-WASM 1.4.3 writes every row inserted into a table with a primary key to the WAL,
# and commits grew slower as the WAL grew; a bootstrap's pages committed faster
# checkpointing each (measured: docs/benchmarks.md, session 10, page). With the key built
# after the last page it still pays: such a commit checkpoints *instead of* writing the
# WAL, and a page of one row group (the first), never written ahead, would otherwise be
# written twice (session 12: no checkpoint at a page's commit cost more, every commit a
# checkpoint gained nothing).
# Writes of the page are checkpointed after each anyway (``_checkpoint``).
INIT_SQL = ("SET autoload_known_extensions=false", "SET autoinstall_known_extensions=false",
            "SET checkpoint_threshold = '1MB'")
# Long enough for the page's first query (sent when it sees `ready`) to be answered before
# the services' imports hold this (single) Python thread; short enough that an interrupted
# sync resumes at once.
SERVICES_DELAY_S: Final = 0.15
# Requests answered by the services started on demand: every SYNC_* and BACKUP_* request.
ON_DEMAND: Final = frozenset(t for t in protocol.REQUEST_TYPES
                             if t == protocol.SYNC or t.startswith(("sync_", "backup_")))
# The SQL console's requests: its service (own connection) starts on the first one.
CONSOLE: Final = frozenset(t for t in protocol.REQUEST_TYPES if t.startswith("console_"))


class LocalWorker:
    def __init__(self) -> None:
        self.host = WorkerHost()
        self.db: Any = None
        self._on_restart: Any = None  # the JS proxy duck.mjs calls after a restart
        self.sync: Any = None  # sync_worker.SyncWorker, once the services started
        self._services: asyncio.Future[dict[str, Handler]] | None = None
        self._wrote = False  # a write before the sync service existed: it syncs once started
        # Every write the sync engine does not make is counted here (page SQL below,
        # imports, conflict resolution): an idle sync may then skip hashing a table.
        self.clock = WriteClock()
        core = self.host.core
        core.on(protocol.QUERY, self.query)
        core.on(protocol.EXEC, self.exec)
        for request_type in ON_DEMAND:
            core.on(request_type, functools.partial(self._on_demand, request_type))
        self._console: asyncio.Future[dict[str, Handler]] | None = None
        for request_type in CONSOLE:
            core.on(request_type, functools.partial(self._on_console, request_type))

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
        # A WebAssembly trap restarts DuckDB (workers/duck.mjs): the same settings, and a word.
        self.db.setInit(to_js(list(INIT_SQL)))
        self._on_restart = create_proxy(self._restarted)
        self.db.onRestart(self._on_restart)
        core.settle(protocol.READY, duckdb={"mode": self.db.mode, "version": self.db.version,
                                            "path": ducksync_host.dbPath})
        self.host.spawn(self._start_services_soon())

    # --- sync and export/import, started after ready ----------------------------------
    async def _start_services_soon(self) -> None:
        await asyncio.sleep(SERVICES_DELAY_S)
        await self.services()

    def services(self) -> asyncio.Future[dict[str, Handler]]:
        """The services' request handlers, started once (the first caller starts them)."""
        if self._services is None:
            self._services = asyncio.ensure_future(self._start_services())
        return self._services

    async def _start_services(self) -> dict[str, Handler]:
        from backup_worker import BackupWorker  # deferred: see the module docstring
        from sync_worker import SyncWorker

        sync = SyncWorker(self.host, self.clock)
        backup = BackupWorker(self.host, sync)
        await sync.start(self.db)
        await backup.start(self.db)
        self.sync = sync
        if self._wrote:
            sync.wrote()
        ducksync_host.mark("python:services-started")
        return {**sync.handlers, **backup.handlers}

    async def _on_demand(self, request_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        handlers = await self.services()
        return await handlers[request_type](payload)

    # --- the SQL console (own connection, started on its first request) -----------------
    async def _start_console(self) -> dict[str, Handler]:
        from console_worker import start_console

        async def after_write() -> None:
            self._wrote_now()
            self.host.emit(protocol.Event(type=protocol.CHANGED))  # the schema panel follows
            try:
                await self._checkpoint()
            except JsException as exc:
                raise QueryError(js_message(exc)) from None

        console = await start_console(self.db, writing=self.clock.writing,
                                      after_write=after_write, checkpoint=self._checkpoint,
                                      spawn=self.host.spawn)
        return console.handlers

    async def _on_console(self, request_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self._console is None:
            self._console = asyncio.ensure_future(self._start_console())
        handlers = await self._console
        return await handlers[request_type](payload)

    # --- queries ------------------------------------------------------------------------
    async def _run(self, sql: object) -> Any:
        if not isinstance(sql, str) or not sql.strip():
            raise QueryError("no SQL given", hint="pass a non-empty SQL string")
        counted = contextlib.nullcontext() if cannot_write(sql) else self.clock.writing()
        try:
            with counted:
                # INSTALL does nothing in DuckDB-WASM: LOAD proves the extension usable.
                ipc = await self.db.query(install_as_load(sql) or sql)
                if not is_read_only(sql):
                    await self._checkpoint()
                    self._wrote_now()
        except JsException as exc:
            error = query_error(js_message(exc), sql, crashed=is_crash(exc))
            if error.hint is None and self._first_sync_pending():
                error.hint = first_sync_hint(error.message)
            raise error from None
        if not is_read_only(sql):
            self.host.emit(protocol.Event(type=protocol.CHANGED))
        return ipc

    def _first_sync_pending(self) -> bool:
        service = self.sync.service if self.sync is not None else None
        return service is None or service.status.last_sync is None

    def _restarted(self, reason: str) -> None:
        """DuckDB crashed and was restarted (a statement of any connection: page SQL, sync,
        import), its database reopened: the page is told."""
        ducksync_host.mark("python:duckdb-restarted")
        self.host.emit(protocol.Event(type=protocol.RESTARTED, payload={"reason": str(reason)}))

    async def _checkpoint(self) -> None:
        """Fold the write just made into the database file now.

        DuckDB refuses while another connection's write transaction is open (a sync
        recording a batch): the write is committed all the same — in the WAL, which
        replays it after a crash — and the next checkpoint (the sync's own, at its
        end) folds it in. So that refusal does not turn a committed write into an error.
        """
        try:
            await self.db.query("CHECKPOINT")
        except JsException as exc:
            if not checkpoint_deferred("CHECKPOINT", js_message(exc)):
                raise

    def _wrote_now(self) -> None:
        """A debounced sync follows local writes (once the sync service is up)."""
        if self.sync is not None:
            self.sync.wrote()
        else:
            self._wrote = True

    async def query(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The result as Arrow IPC, plus DuckDB's column types (``types``, None when the
        SQL is not one query) so the page decodes and names values as DuckDB does."""
        sql = payload.get("sql")
        described = await self._describe(sql) if isinstance(sql, str) else None
        if described is None:
            ipc = await self._run(sql)
            return {"ipc": ipc, "bytes": ipc.byteLength, "types": None}
        names, types = described
        wrapped = query_types.api_sql(sql, types, names)
        ipc = await self._run(wrapped or sql)
        return {"ipc": ipc, "bytes": ipc.byteLength, "types": types}

    async def _describe(self, sql: str) -> tuple[list[str], list[str]] | None:
        describe = query_types.describe_sql(sql)
        if describe is None:
            return None
        try:
            rows = ducksync_host.sync.ipcToRows(await self.db.query(describe)).to_py()
        except JsException as exc:
            if is_crash(exc):  # DuckDB was restarted (duck.mjs): running it would crash again
                raise query_error(js_message(exc), sql, crashed=True) from None
            return None  # running it says what is wrong
        return [str(r[0]) for r in rows], [str(r[1]) for r in rows]

    async def exec(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self._run(payload.get("sql"))
        return {"ok": True}


def start() -> Any:
    worker = LocalWorker()
    return worker.host.start(worker.init)
