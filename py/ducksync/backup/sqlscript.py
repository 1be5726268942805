"""Export user tables as one SQL script: schema, then ``INSERT`` statements.

Why this shape: the script is plain DuckDB SQL, so it runs as-is in the DuckDB
CLI (``duckdb new.db < backup.sql``) and in the MotherDuck UI. Every ``INSERT``
is written by DuckDB itself (see :mod:`ducksync.backup.literals`), one page of
rows per statement, and yielded as soon as it is fetched: memory stays at one
page whatever the table size.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from ducksync import __version__
from ducksync.backup.catalog import UserTable, create_table_sql, list_user_tables, sql_string
from ducksync.backup.literals import literal_sql, parse_type
from ducksync.backup.paging import plan_pages, rows_per_page
from ducksync.backup.progress import ProgressFn, noop
from ducksync.engine import sqlbuild as sb
from ducksync.engine.store import LocalStore

__all__ = ["MANIFEST_PREFIX", "export_sql", "header_sql", "row_literal_sql", "schema_sql"]

MANIFEST_PREFIX = "-- ducksync-manifest: "
DEFAULT_CHUNK_BYTES = 1 << 20
MAX_ROWS_PER_STATEMENT = 10_000


def row_literal_sql(table: UserTable) -> str:
    """A VARCHAR expression: one row as ``(lit, lit, …)``."""
    parts = " || ', ' || ".join(
        literal_sql(sb.quote_ident(c["name"]), parse_type(c["type"])) for c in table.columns)
    return f"'(' || {parts} || ')'"


def _comment(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def header_sql(tables: list[UserTable], *, kind: str) -> str:
    """The comment block: tool, version, time, tables and row counts, and a manifest line."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [f"-- ducksync {kind}", f"-- tool: ducksync {__version__}", f"-- created: {now}",
             f"-- tables: {len(tables)}, rows: {sum(t.rows for t in tables)}"]
    lines += [f"--   {_comment(t.label)}: {t.rows} rows" for t in tables]
    lines.append("-- Load with: duckdb new.duckdb < this.sql  (or paste into the MotherDuck UI)")
    manifest = {"version": 1, "tables": [{"schema": t.schema, "name": t.name, "rows": t.rows}
                                         for t in tables]}
    lines.append(MANIFEST_PREFIX + json.dumps(manifest, ensure_ascii=True))
    return "\n".join(lines) + "\n\n"


def schema_sql(tables: list[UserTable]) -> str:
    """``CREATE SCHEMA`` for non-main schemas, then every ``CREATE TABLE``."""
    schemas = sorted({t.schema for t in tables if t.schema != "main"})
    out = [f"CREATE SCHEMA IF NOT EXISTS {sb.quote_ident(s)};\n" for s in schemas]
    out += [create_table_sql(t) for t in tables]
    return "".join(out) + "\n"


async def export_sql(
    store: LocalStore,
    *,
    tables: list[str] | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    on_progress: ProgressFn = noop,
) -> AsyncIterator[str]:
    """Yield the script as text chunks of about ``chunk_bytes`` (one INSERT each).

    Reads inside one transaction, so the backup is a consistent snapshot. Run
    nothing else on ``store`` while consuming the iterator.
    """
    await store.execute("BEGIN TRANSACTION")
    try:
        chosen = await list_user_tables(store, only=tables)
        yield header_sql(chosen, kind="SQL export") + schema_sql(chosen)
        total = sum(t.rows for t in chosen)
        done = 0
        for i, table in enumerate(chosen):
            on_progress({"phase": "export", "table": table.label, "tables_done": i,
                         "tables_total": len(chosen), "rows_done": done, "rows_total": total})
            async for chunk, n in _table_inserts(store, table, chunk_bytes=chunk_bytes):
                done += n
                yield chunk
                on_progress({"phase": "export", "table": table.label, "tables_done": i,
                             "tables_total": len(chosen), "rows_done": done, "rows_total": total})
        on_progress({"phase": "export", "table": "", "tables_done": len(chosen),
                     "tables_total": len(chosen), "rows_done": done, "rows_total": total})
    finally:
        await store.execute("COMMIT")


async def _table_inserts(
    store: LocalStore, table: UserTable, *, chunk_bytes: int
) -> AsyncIterator[tuple[str, int]]:
    row = row_literal_sql(table)
    step = await rows_per_page(store, table, row_text_sql=row, target_bytes=chunk_bytes,
                               max_rows=MAX_ROWS_PER_STATEMENT)
    head = f"INSERT INTO {table.ref} VALUES\n"
    for page in await plan_pages(store, table, step=step):
        order = f" ORDER BY {page.order}" if page.order else ""
        ord_col = f", {page.order}" if page.order else ""
        found = await store.fetch_rows(
            f"SELECT {sql_string(head)} || string_agg(__ds_lit, ',' || chr(10){order}) || ';' "
            f"|| chr(10), count(*) FROM (SELECT {row} AS __ds_lit{ord_col} "
            f"FROM {table.ref} {page.where})")
        text, n = found[0]
        if n:
            yield str(text), int(n)

