"""Export user tables as a CSV bundle (a zip), import one back.

Why: CSV opens anywhere (spreadsheets, other databases) and DuckDB's CSV writer
and reader are in core DuckDB-WASM, so the browser needs no extension. The zip
holds ``schema.sql`` (the same ``CREATE`` statements as the SQL export, so types
and keys survive), ``manifest.json`` (which file is which table, row counts) and
one ``<table>.csv`` with a header row per table. Writing goes page by page
through :meth:`LocalStore.copy_out` straight into the zip entry; reading hands
each CSV to DuckDB's reader with the declared column types (no sniffing).
"""

from __future__ import annotations

import json
import re
import zipfile
from typing import IO

from ducksync.backup.catalog import UserTable, list_user_tables, sql_string
from ducksync.backup.importer import REPLACE_HINT, ImportResult, ImportSession
from ducksync.backup.paging import plan_pages, rows_per_page
from ducksync.backup.progress import ProgressFn, noop
from ducksync.backup.splitter import StatementSplitter
from ducksync.backup.sqlscript import DEFAULT_CHUNK_BYTES, header_sql, row_literal_sql, schema_sql
from ducksync.engine import sqlbuild as sb
from ducksync.engine.store import LocalStore
from ducksync.errors import BackupError, DucksyncError

__all__ = ["CSV_READ_OPTIONS", "CSV_WRITE_OPTIONS", "export_csv", "import_csv"]

# One dialect both ways: NULL is an empty field, an empty string is "" (quoted).
CSV_WRITE_OPTIONS = "FORMAT csv, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NULLSTR ''"
CSV_READ_OPTIONS = ("delim = ',', quote = '\"', escape = '\"', nullstr = '', "
                    "allow_quoted_nulls = false, auto_detect = false, strict_mode = true")
MAX_ROWS_PER_PAGE = 100_000


def _file_name(table: UserTable, used: set[str]) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", table.label).strip("._") or "table"
    name, n = f"{safe}.csv", 1
    while name.lower() in used:
        n += 1
        name = f"{safe}_{n}.csv"
    used.add(name.lower())
    return name


async def export_csv(
    store: LocalStore,
    out: IO[bytes],
    *,
    tables: list[str] | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    on_progress: ProgressFn = noop,
) -> list[dict[str, object]]:
    """Write the bundle to ``out`` (a binary file, need not be seekable); return its manifest.

    One transaction, so the bundle is a consistent snapshot.
    """
    await store.execute("BEGIN TRANSACTION")
    try:
        chosen = await list_user_tables(store, only=tables)
        used: set[str] = set()
        entries = [{"schema": t.schema, "name": t.name, "rows": t.rows,
                    "file": _file_name(t, used)} for t in chosen]
        total, done = sum(t.rows for t in chosen), 0
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            zf.writestr("manifest.json", json.dumps({"version": 1, "format": "ducksync-csv",
                                                     "tables": entries}, indent=1))
            zf.writestr("schema.sql", header_sql(chosen, kind="CSV bundle schema")
                        + schema_sql(chosen))
            for i, (table, entry) in enumerate(zip(chosen, entries, strict=True)):
                on_progress({"phase": "export", "table": table.label, "tables_done": i,
                             "tables_total": len(chosen), "rows_done": done,
                             "rows_total": total})
                with zf.open(str(entry["file"]), "w", force_zip64=True) as fh:
                    await _write_table(store, table, fh, chunk_bytes=chunk_bytes)
                done += table.rows
        on_progress({"phase": "export", "table": "", "tables_done": len(chosen),
                     "tables_total": len(chosen), "rows_done": done, "rows_total": total})
        return entries
    finally:
        await store.execute("COMMIT")


async def _write_table(
    store: LocalStore, table: UserTable, fh: IO[bytes], *, chunk_bytes: int
) -> None:
    cols = sb.cols_sql([c["name"] for c in table.columns])
    step = await rows_per_page(store, table, row_text_sql=row_literal_sql(table),
                               target_bytes=chunk_bytes, max_rows=MAX_ROWS_PER_PAGE)
    pages = await plan_pages(store, table, step=step)
    if not pages:  # header only
        fh.write(await store.copy_out(f"COPY (SELECT {cols} FROM {table.ref} LIMIT 0) TO {{file}} "
                                      f"({CSV_WRITE_OPTIONS}, HEADER true)"))
    for n, page in enumerate(pages):
        order = f" ORDER BY {page.order}" if page.order else ""
        fh.write(await store.copy_out(
            f"COPY (SELECT {cols} FROM {table.ref} {page.where}{order}) TO {{file}} "
            f"({CSV_WRITE_OPTIONS}, HEADER {'true' if n == 0 else 'false'})"))


async def import_csv(
    store: LocalStore,
    bundle: IO[bytes],
    *,
    replace: bool = False,
    on_progress: ProgressFn = noop,
    replace_hint: str = REPLACE_HINT,
) -> ImportResult:
    """Load a bundle written by :func:`export_csv`, in one transaction.

    ``schema.sql`` runs first (with the same checks as a SQL import), then each
    CSV is read by DuckDB with the columns' declared types. Memory: one table's
    CSV at a time.
    """
    try:
        zf = zipfile.ZipFile(bundle)
    except zipfile.BadZipFile as exc:
        raise BackupError(f"not a CSV bundle: {exc}",
                          hint="pass a .zip written by `ducksync export --format csv`") from exc
    with zf:
        names = set(zf.namelist())
        if "schema.sql" not in names:
            raise BackupError("the zip has no schema.sql, so column types are unknown",
                              hint="pass a bundle written by `ducksync export --format csv`")
        entries = _entries(zf, names)
        session = ImportSession(store, replace=replace, on_progress=on_progress,
                                replace_hint=replace_hint)
        session.tables_total = len(entries)
        session.rows_total = sum(int(str(e.get("rows", 0))) for e in entries) if entries else -1
        async with session.opened():
            splitter = StatementSplitter()
            for stmt in [*splitter.feed(zf.read("schema.sql").decode("utf-8")),
                         *splitter.finish()]:
                await session.run(stmt)
            for i, entry in enumerate(entries):
                await _load_table(session, zf, entry, index=i)
        return session.result()


def _entries(zf: zipfile.ZipFile, names: set[str]) -> list[dict[str, object]]:
    """The manifest's tables; without a manifest, ``<table>.csv`` files in ``main``."""
    if "manifest.json" in names:
        tables: list[dict[str, object]] = json.loads(zf.read("manifest.json"))["tables"]
        return tables
    return [{"schema": "main", "name": n[:-4], "file": n} for n in sorted(names)
            if n.endswith(".csv") and "/" not in n]


async def _load_table(
    session: ImportSession, zf: zipfile.ZipFile, entry: dict[str, object], *, index: int
) -> None:
    schema, name, file = str(entry["schema"]), str(entry["name"]), str(entry["file"])
    label = name if schema == "main" else f"{schema}.{name}"
    ref = f"{sb.quote_ident(schema)}.{sb.quote_ident(name)}"
    cols = await session.store.fetch_rows(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = "
        "current_database() AND schema_name = ? AND table_name = ? ORDER BY column_index",
        [schema, name])
    if not cols:
        raise BackupError(f"{file} is for table {label}, which schema.sql does not create",
                          hint="add its CREATE TABLE to schema.sql")
    spec = ", ".join(f"{sql_string(c)}: {sql_string(t)}" for c, t in cols)
    session.progress(table=label, done=index)
    try:
        data = zf.read(file)
    except KeyError:
        raise BackupError(f"the bundle lacks {file} (table {label})",
                          hint="re-export the bundle; it is incomplete") from None
    try:
        await session.store.copy_in(
            f"INSERT INTO {ref} BY NAME SELECT * FROM read_csv({{file}}, header = true, "
            f"{CSV_READ_OPTIONS}, columns = {{{spec}}})", data)
    except BackupError:
        raise
    except DucksyncError as exc:
        raise BackupError(f"{file} (table {label}) could not be loaded: {exc}; nothing was "
                          "imported", hint="check that the CSV matches schema.sql") from exc
    n = (await session.store.fetch_rows(f"SELECT count(*) FROM {ref}"))[0][0]
    session.rows += int(n)
    session.progress(table=label, done=index + 1)
