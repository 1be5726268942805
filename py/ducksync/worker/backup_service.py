"""Export and import in the browser worker: :mod:`ducksync.backup` behind worker requests.

Why a service: a SQL export is a stream of text chunks the page pulls one request
at a time (the Blob is built from the parts on the main thread), so the export's
generator (holding its read transaction) lives here between requests. An import
arrives as one byte array that stays outside the Python heap (a :class:`ByteSource`
reads ranges of it): SQL is decoded chunk by chunk, a CSV bundle is read as a
seekable file by :mod:`zipfile`. Progress goes out as ``progress`` events with
``task: "backup"``. Pure Python: CPython tests run it over the native store.
"""

from __future__ import annotations

import codecs
import io
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Final, Protocol

from ducksync.backup import Progress, export_csv, export_sql, import_csv, import_sql
from ducksync.engine.store import LocalStore
from ducksync.errors import BackupError

__all__ = ["FORMATS", "BackupService", "ByteSource", "BytesSource", "RangeFile", "detect_format",
           "text_chunks"]

FORMATS: Final = ("sql", "csv")
ZIP_MAGIC: Final = b"PK\x03\x04"
# A table that already has rows: the page's checkbox (web/index.html) and the API option.
PAGE_REPLACE_HINT: Final = ("tick “Replace tables that have rows” and upload the file again "
                            "(from code: db.import(file, {replace: true})), or import into an "
                            "empty database")
Emit = Callable[[str, dict[str, Any]], None]


class ByteSource(Protocol):
    """Bytes read by range (in the worker: a JS ``Uint8Array`` never copied whole)."""

    @property
    def size(self) -> int: ...

    def read(self, start: int, end: int) -> bytes: ...


class BytesSource:
    """A :class:`ByteSource` over Python bytes (tests, CLI)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, start: int, end: int) -> bytes:
        return self.data[start:end]


class RangeFile(io.RawIOBase):
    """A read-only, seekable binary file over a :class:`ByteSource` (for ``zipfile``)."""

    def __init__(self, source: ByteSource) -> None:
        super().__init__()
        self.source, self.pos = source, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.source.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.source.read(self.pos, min(self.pos + len(view), self.source.size))
        view[:len(data)] = data
        self.pos += len(data)
        return len(data)


def detect_format(source: ByteSource) -> str:
    """``csv`` for a zip (a CSV bundle), else ``sql``."""
    return "csv" if source.read(0, len(ZIP_MAGIC)) == ZIP_MAGIC else "sql"


def text_chunks(source: ByteSource, chunk_bytes: int = 1 << 20) -> Iterator[str]:
    """UTF-8 text of ``source`` in chunks (a leading BOM is dropped; bad bytes are an error)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        for start in range(0, source.size, chunk_bytes):
            text = decoder.decode(source.read(start, start + chunk_bytes))
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise BackupError(f"the file is not UTF-8 text: {exc}",
                          hint="upload a .sql script or a .zip CSV bundle from ducksync export"
                          ) from None
    if tail:
        yield tail


class BackupService:
    """Exports and imports on ``store`` (its own connection: a sync may run meanwhile)."""

    def __init__(self, *, store: LocalStore, emit: Emit,
                 after_import: Callable[[], None] = lambda: None) -> None:
        self.store, self._emit, self._after_import = store, emit, after_import
        self._ids = itertools.count(1)
        self._open: tuple[int, AsyncIterator[str]] | None = None

    def _progress(self, progress: Progress) -> None:
        self._emit("progress", {"task": "backup", **progress})

    async def _close_open(self) -> None:
        """Finish an abandoned SQL export (ends its read transaction)."""
        if self._open is not None:
            _, chunks = self._open
            self._open = None
            aclose = getattr(chunks, "aclose", None)  # an async generator's
            if aclose is not None:
                await aclose()

    async def export(self, *, fmt: str, tables: list[str] | None = None,
                     chunk_bytes: int = 1 << 20) -> dict[str, Any]:
        """``csv``: ``{format, data: bytes, tables, rows}``; ``sql``: the first chunk and an
        ``export_id`` for :meth:`next`."""
        if fmt not in FORMATS:
            raise BackupError(f"unknown export format {fmt!r}", hint="use 'sql' or 'csv'")
        await self._close_open()
        if fmt == "csv":
            out = io.BytesIO()
            entries = await export_csv(self.store, out, tables=tables, chunk_bytes=chunk_bytes,
                                       on_progress=self._progress)
            return {"format": "csv", "data": out.getvalue(),
                    "tables": [str(e["name"]) if e["schema"] == "main"
                               else f"{e['schema']}.{e['name']}" for e in entries],
                    "rows": sum(int(str(e["rows"])) for e in entries)}
        chunks = export_sql(self.store, tables=tables, chunk_bytes=chunk_bytes,
                            on_progress=self._progress)
        export_id = next(self._ids)
        self._open = (export_id, chunks)
        return {"format": "sql", "export_id": export_id, **await self.next(export_id)}

    async def next(self, export_id: int, *, close: bool = False) -> dict[str, Any]:
        """The next chunk of SQL export ``export_id``: ``{chunk, done}`` (``chunk`` None at the
        end); ``close`` abandons the export."""
        if self._open is None or self._open[0] != export_id:
            if close:
                return {"chunk": None, "done": True}
            raise BackupError(f"export {export_id} is not running (finished, or replaced by a "
                              "newer export or import)", hint="start the export again")
        if close:
            await self._close_open()
            return {"chunk": None, "done": True}
        try:
            chunk = await anext(self._open[1])
        except StopAsyncIteration:
            self._open = None
            return {"chunk": None, "done": True}
        except BaseException:
            self._open = None
            raise
        return {"chunk": chunk, "done": False}

    async def import_(self, source: ByteSource, *, fmt: str | None = None,
                      replace: bool = False) -> dict[str, Any]:
        """Load a SQL script or CSV bundle (``fmt`` None: found by magic bytes), all or nothing."""
        await self._close_open()
        fmt = fmt or detect_format(source)
        if fmt not in FORMATS:
            raise BackupError(f"unknown import format {fmt!r}", hint="use 'sql' or 'csv'")
        if source.size == 0:
            raise BackupError("the file is empty", hint="pick a file written by ducksync export")
        if fmt == "csv":
            bundle = io.BufferedReader(RangeFile(source), 1 << 20)
            result = await import_csv(self.store, bundle, replace=replace,
                                      on_progress=self._progress, replace_hint=PAGE_REPLACE_HINT)
        else:
            result = await import_sql(self.store, text_chunks(source), replace=replace,
                                      on_progress=self._progress, replace_hint=PAGE_REPLACE_HINT)
        self._after_import()
        return {"format": fmt, **result}
