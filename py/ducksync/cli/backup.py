"""``ducksync export|import``: back up the local database, or restore a backup.

The same :mod:`ducksync.backup` code the browser worker runs, over a native
store. Exports are written to ``OUT.partial`` and renamed when complete, so a
failed export never leaves a truncated file that looks like a backup.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
from typing import IO, Any

from ducksync.backup.progress import Progress
from ducksync.cli import open_existing_local
from ducksync.errors import BackupError

ZIP_MAGIC = b"PK\x03\x04"
READ_CHUNK = 1 << 20


def register(subparsers: Any) -> None:
    ex: argparse.ArgumentParser = subparsers.add_parser(
        "export", help="write the local tables to a SQL script or a CSV bundle",
        description="Export user tables (schema ducksync, the sync state, is skipped).")
    ex.add_argument("local", metavar="LOCAL", help="local DuckDB file")
    ex.add_argument("out", metavar="OUT", help="output file (.sql or .zip); - = stdout")
    ex.add_argument("--format", choices=("sql", "csv"), default=None,
                    help="sql script or csv bundle (default: csv for .zip, else sql)")
    ex.add_argument("--table", default=None, metavar="T[,T2]",
                    help="only these tables (name, or schema.name)")
    ex.add_argument("--quiet", action="store_true", help="no progress on stderr")
    ex.set_defaults(handler=run_export)
    im: argparse.ArgumentParser = subparsers.add_parser(
        "import", help="load a SQL script or CSV bundle into the local database",
        description="Import a backup in one transaction: all of it or nothing.")
    im.add_argument("local", metavar="LOCAL", help="local DuckDB file (created if missing)")
    im.add_argument("src", metavar="IN", help="a .sql script or a .zip CSV bundle; - = stdin")
    im.add_argument("--replace", action="store_true",
                    help="drop and recreate tables that already have rows")
    im.add_argument("--quiet", action="store_true", help="no progress on stderr")
    im.set_defaults(handler=run_import)


def _progress(quiet: bool) -> Any:
    def show(p: Progress) -> None:
        if quiet or not sys.stderr.isatty():
            return
        total = f"/{p['rows_total']}" if p["rows_total"] >= 0 else ""
        print(f"\r{p['phase']}: table {p['tables_done']}/{p['tables_total']} "
              f"{p['table'][:30]:<30} rows {p['rows_done']}{total}   ",
              end="", file=sys.stderr, flush=True)
    return show


def _open_existing(spec: str) -> Any:
    return open_existing_local(spec, error=BackupError)


def run_export(args: argparse.Namespace) -> int:
    from ducksync.backup import export_csv, export_sql

    fmt = args.format or ("csv" if args.out.lower().endswith(".zip") else "sql")
    tables = [t.strip() for t in (args.table or "").split(",") if t.strip()] or None
    store = _open_existing(args.local)
    progress = _progress(args.quiet)

    async def write_sql(fh: IO[bytes]) -> None:
        async for chunk in export_sql(store, tables=tables, on_progress=progress):
            fh.write(chunk.encode("utf-8"))

    async def write(fh: IO[bytes]) -> None:
        if fmt == "sql":
            await write_sql(fh)
        else:
            await export_csv(store, fh, tables=tables, on_progress=progress)

    if args.out == "-":
        asyncio.run(write(sys.stdout.buffer))
        sys.stdout.flush()
    else:
        partial = args.out + ".partial"
        try:
            with open(partial, "wb") as fh:
                asyncio.run(write(fh))
            os.replace(partial, args.out)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
    if not args.quiet:
        print(f"\nexported {fmt} to {args.out}", file=sys.stderr)
    return 0


def run_import(args: argparse.Namespace) -> int:
    from ducksync.backup import import_csv, import_sql
    from ducksync.stores import open_local

    src = sys.stdin.buffer if args.src == "-" else _open_backup(args.src)
    with src:
        head = src.read(4)
        store = open_local(args.local)
        progress = _progress(args.quiet)
        if head == ZIP_MAGIC:
            bundle = io.BytesIO(head + src.read()) if args.src == "-" else src
            bundle.seek(0)
            result = asyncio.run(import_csv(store, bundle, replace=args.replace,
                                            on_progress=progress))
        else:
            result = asyncio.run(import_sql(store, _text(head, src), replace=args.replace,
                                            on_progress=progress))
    if not args.quiet:
        print(f"\nimported {len(result['tables'])} tables, {result['rows']} rows into "
              f"{args.local}", file=sys.stderr)
    return 0


def _open_backup(path: str) -> IO[bytes]:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}",
                          hint="pass the path of a .sql script or .zip CSV bundle "
                               "written by `ducksync export`") from None


def _text(head: bytes, src: IO[bytes]) -> Any:
    """The script as text chunks (UTF-8, decoded incrementally)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    data = head
    while data:
        yield decoder.decode(data)
        data = src.read(READ_CHUNK)
    yield decoder.decode(b"", final=True)
