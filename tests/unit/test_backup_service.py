"""The browser worker's backup service, in CPython over the native store."""

from __future__ import annotations

import asyncio
import io
import zipfile
from typing import Any

import duckdb
import pytest

from ducksync.errors import BackupError
from ducksync.stores.native import NativeLocalStore
from ducksync.worker.backup_service import (
    BackupService,
    BytesSource,
    RangeFile,
    detect_format,
    text_chunks,
)

SEED = ("CREATE TABLE birds (id INTEGER PRIMARY KEY, name VARCHAR, w DOUBLE);"
        "INSERT INTO birds SELECT range, 'bird ' || range || ' 🦆', range / 7 FROM range(2500);"
        "CREATE TABLE empty_one (x INTEGER)")


def service(store: NativeLocalStore) -> tuple[BackupService, list[dict[str, Any]], list[int]]:
    events: list[dict[str, Any]] = []
    imports: list[int] = []
    svc = BackupService(store=store, emit=lambda kind, p: events.append({"kind": kind, **p}),
                        after_import=lambda: imports.append(1))
    return svc, events, imports


async def sql_export(svc: BackupService, chunk_bytes: int = 4096) -> str:
    first = await svc.export(fmt="sql", chunk_bytes=chunk_bytes)
    parts, reply = [first["chunk"]], first
    while not reply["done"]:
        reply = await svc.next(first["export_id"])
        if reply["chunk"] is not None:
            parts.append(reply["chunk"])
    return "".join(parts)


def same(a: NativeLocalStore, b: NativeLocalStore, table: str) -> None:
    rows_a = a.con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
    rows_b = b.con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
    assert rows_a == rows_b


def test_sql_export_streams_chunks_and_imports_back() -> None:
    src = NativeLocalStore(spec=":memory:")
    src.con.execute(SEED)
    svc, events, _ = service(src)
    script = asyncio.run(sql_export(svc))
    assert "CREATE TABLE" in script and "birds" in script and script.count("INSERT INTO") > 1
    assert any(e["kind"] == "progress" and e["task"] == "backup" for e in events)
    dst = NativeLocalStore(spec=":memory:")
    dsvc, _, imports = service(dst)
    result = asyncio.run(dsvc.import_(BytesSource(script.encode()), replace=False))
    assert result["format"] == "sql" and result["rows"] == 2500 and imports == [1]
    same(src, dst, "birds")
    native = duckdb.connect()
    native.execute(script)
    assert native.execute("SELECT count(*) FROM birds").fetchone() == (2500,)


def test_csv_export_is_a_zip_and_imports_back() -> None:
    src = NativeLocalStore(spec=":memory:")
    src.con.execute(SEED)
    svc, _, _ = service(src)
    out = asyncio.run(svc.export(fmt="csv", tables=None))
    assert out["rows"] == 2500 and sorted(out["tables"]) == ["birds", "empty_one"]
    assert zipfile.ZipFile(io.BytesIO(out["data"])).read("manifest.json")
    dst = NativeLocalStore(spec=":memory:")
    dsvc, _, _ = service(dst)
    result = asyncio.run(dsvc.import_(BytesSource(out["data"])))
    assert result["format"] == "csv" and result["rows"] == 2500
    same(src, dst, "birds")


def test_abandoned_export_is_closed_by_the_next_one() -> None:
    src = NativeLocalStore(spec=":memory:")
    src.con.execute(SEED)
    svc, _, _ = service(src)

    async def go() -> None:
        first = await svc.export(fmt="sql", chunk_bytes=1024)
        assert not first["done"]
        await sql_export(svc)  # closes the first one's transaction
        with pytest.raises(BackupError, match="not running"):
            await svc.next(first["export_id"])
        assert await svc.next(first["export_id"], close=True) == {"chunk": None, "done": True}

    asyncio.run(go())


def test_import_errors_are_backup_errors() -> None:
    svc, _, imports = service(NativeLocalStore(spec=":memory:"))
    with pytest.raises(BackupError, match="empty"):
        asyncio.run(svc.import_(BytesSource(b"")))
    with pytest.raises(BackupError, match="UTF-8"):
        asyncio.run(svc.import_(BytesSource(b"SELECT '\xff\xfe'")))
    with pytest.raises(BackupError, match="unknown export format"):
        asyncio.run(svc.export(fmt="xml"))
    assert imports == []


def test_range_file_and_text_chunks() -> None:
    data = "héllo 🦆 wörld".encode() * 50
    f = RangeFile(BytesSource(data))
    assert f.read(5) == data[:5] and f.tell() == 5
    f.seek(-3, io.SEEK_END)
    assert f.read() == data[-3:]
    # chunk boundaries inside multi-byte characters, and a BOM
    src = BytesSource(b"\xef\xbb\xbf" + data)
    assert "".join(text_chunks(src, chunk_bytes=3)) == data.decode()
    assert detect_format(BytesSource(b"PK\x03\x04rest")) == "csv"
    assert detect_format(BytesSource(b"-- sql")) == "sql"


@pytest.mark.parametrize("fmt", ["sql", "csv"])
def test_a_refused_import_names_the_pages_checkbox_not_a_cli_flag(fmt: str) -> None:
    store = NativeLocalStore(spec=":memory:")
    store.con.execute(SEED)
    svc, _, _ = service(store)
    data = asyncio.run(sql_export(svc)).encode() if fmt == "sql" else \
        asyncio.run(svc.export(fmt="csv", tables=None))["data"]
    with pytest.raises(BackupError) as err:
        asyncio.run(svc.import_(BytesSource(data), replace=False))
    assert "already has rows" in err.value.message
    assert "Replace tables that have rows" in str(err.value.hint)
    assert "--replace" not in str(err.value.hint)
