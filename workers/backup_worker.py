"""The local worker's export/import requests: :mod:`ducksync.worker.backup_service` glued to JS.

The backup runs on a DuckDB connection of its own (its read transaction or import
transaction never mixes with the page's queries or a running sync). An upload arrives
as a JS ``Uint8Array`` (transferred from the page) and is read by range, so the
Python heap holds one chunk of it at a time; a CSV bundle's bytes go back as one
``Uint8Array`` in the reply's transfer list.
"""

from __future__ import annotations

from typing import Any

import ducksync_host  # type: ignore[import-not-found]
from pyodide.ffi import JsProxy, to_js  # type: ignore[import-not-found]

from ducksync import protocol
from ducksync.errors import BackupError, QueryError
from ducksync.protocol import Event
from ducksync.worker import Handler
from ducksync.worker.backup_service import BackupService
from jsvalues import py
from sync_worker import SyncWorker, WasmLocalStore
from worker_host import WorkerHost

sync_host = ducksync_host.sync  # workers/sync_host.mjs


class JsByteSource:
    """:class:`ducksync.worker.backup_service.ByteSource` over a JS ``Uint8Array``."""

    def __init__(self, data: Any) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return int(self.data.byteLength)

    def read(self, start: int, end: int) -> bytes:
        return bytes(self.data.subarray(start, end).to_bytes())


class BackupWorker:
    """The BACKUP_* requests (``handlers``), started on demand like :class:`SyncWorker`."""

    def __init__(self, host: WorkerHost, sync: SyncWorker) -> None:
        self.host, self.sync = host, sync
        self.service: BackupService | None = None
        self.handlers: dict[str, Handler] = {protocol.BACKUP_EXPORT: self._export,
                                             protocol.BACKUP_NEXT: self._next,
                                             protocol.BACKUP_IMPORT: self._import}

    async def start(self, db: Any) -> None:
        store = WasmLocalStore(await sync_host.syncConnection(db))

        def after_import() -> None:
            self.sync.wrote()  # the imported rows travel with the next (debounced) sync

        self.service = BackupService(store=store, emit=self._emit, after_import=after_import)

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        self.host.emit(Event(type=kind, payload=payload))

    def _svc(self) -> BackupService:
        if self.service is None:
            raise QueryError("export/import is not ready yet", hint="wait for the ready phase")
        return self.service

    async def _export(self, p: dict[str, Any]) -> dict[str, Any]:
        p = {k: py(v) for k, v in p.items()}
        tables = p.get("tables")
        out = await self._svc().export(fmt=str(p.get("format") or "sql"),
                                       tables=list(tables) if tables else None,
                                       chunk_bytes=int(p.get("chunk_bytes") or 1 << 20))
        if out["format"] == "csv":
            out["data"] = to_js(out["data"])  # sliced to its own buffer, then transferred
        return out

    async def _next(self, p: dict[str, Any]) -> dict[str, Any]:
        p = {k: py(v) for k, v in p.items()}
        return await self._svc().next(int(p.get("export_id") or 0), close=bool(p.get("close")))

    async def _import(self, p: dict[str, Any]) -> dict[str, Any]:
        data = p.get("data")
        if not isinstance(data, JsProxy):
            raise BackupError("no file data in the import request",
                              hint="pass a File or Blob to ducksync.import()")
        fmt = py(p.get("format"))
        with self.sync.clock.writing():  # an import writes tables: the next sync hashes them
            out = await self._svc().import_(JsByteSource(data), fmt=str(fmt) if fmt else None,
                                            replace=bool(py(p.get("replace"))))
            await self._svc().store.execute("CHECKPOINT")  # durable in OPFS before we answer
        return out
