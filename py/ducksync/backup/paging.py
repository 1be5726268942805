"""Split a table into pages of rows so exports hold one page at a time.

Why ``rowid`` ranges: DuckDB pushes ``rowid`` filters into the scan, so each
page costs its own rows, not a table scan; pages are read inside one
transaction, so they form a consistent snapshot. A table whose own column is
named ``rowid`` hides the pseudo-column: it falls back to LIMIT/OFFSET pages
(insertion order is stable within the snapshot, but each page rescans).
"""

from __future__ import annotations

from dataclasses import dataclass

from ducksync.backup.catalog import UserTable
from ducksync.engine.store import LocalStore

__all__ = ["Page", "plan_pages", "rows_per_page"]

SAMPLE_ROWS = 1000


@dataclass(frozen=True)
class Page:
    """``FROM … <where>`` restricts a scan to the page; ``order`` keeps row order."""

    where: str
    order: str


async def rows_per_page(
    store: LocalStore, table: UserTable, *, row_text_sql: str, target_bytes: int, max_rows: int
) -> int:
    """How many rows make about ``target_bytes`` of output, from a sample of rows."""
    found = await store.fetch_rows(
        f"SELECT avg(strlen({row_text_sql})), max(strlen({row_text_sql})) "
        f"FROM (SELECT * FROM {table.ref} LIMIT {SAMPLE_ROWS})")
    avg, biggest = (float(found[0][0] or 1), float(found[0][1] or 1)) if found else (1.0, 1.0)
    per_row = max(avg, biggest / 4)  # a few wide rows must not blow the page up
    return max(1, min(max_rows, int(target_bytes // max(per_row, 1.0))))


async def plan_pages(store: LocalStore, table: UserTable, *, step: int) -> list[Page]:
    """The pages of ``table``, each at most ``step`` rows, in storage order."""
    if table.rows == 0:
        return []
    if table.has_rowid_column:
        return [Page(f"LIMIT {step} OFFSET {start}", "")
                for start in range(0, table.rows, step)]
    lo, hi = (await store.fetch_rows(f"SELECT min(rowid), max(rowid) FROM {table.ref}"))[0]
    return [Page(f"WHERE rowid >= {start} AND rowid < {start + step}", "rowid")
            for start in range(int(lo), int(hi) + 1, step)]
