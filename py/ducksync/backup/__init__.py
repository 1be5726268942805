"""Backup: export the local database as a SQL script or a CSV bundle, import either back.

Pure Python over :class:`ducksync.engine.store.LocalStore` (no duckdb or pyarrow
import), so the CLI and the browser worker run the same code. DuckDB does all
row-level work: it renders literals, writes and reads CSV; Python only moves
pages of text or bytes.
"""

from __future__ import annotations

from ducksync.backup.csvbundle import export_csv, import_csv
from ducksync.backup.importer import ImportResult, import_sql
from ducksync.backup.progress import Progress, ProgressFn
from ducksync.backup.sqlscript import export_sql

__all__ = ["ImportResult", "Progress", "ProgressFn", "export_csv", "export_sql", "import_csv",
           "import_sql"]
