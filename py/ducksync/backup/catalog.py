"""The user tables of a local database, read through the LocalStore.

Why here and not the engine's ``describe_local``: a backup covers every user
schema (not only ``main``) and must skip the engine's own schema ``ducksync``,
whose contents are per-device sync state that must never travel in a backup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ducksync.engine import sqlbuild as sb
from ducksync.engine.store import ColumnInfo, LocalStore
from ducksync.errors import BackupError

__all__ = ["ENGINE_SCHEMA", "UserTable", "create_table_sql", "list_user_tables", "sql_string"]

ENGINE_SCHEMA = "ducksync"
_SYSTEM_SCHEMAS = (ENGINE_SCHEMA, "information_schema", "pg_catalog")


@dataclass
class UserTable:
    """One table to back up: its shape, its row count, and whether ``rowid`` is usable."""

    schema: str
    name: str
    columns: list[ColumnInfo]
    primary_key: list[str]
    rows: int = 0
    has_rowid_column: bool = field(default=False)

    @property
    def label(self) -> str:
        """``name`` for schema ``main``, else ``schema.name`` (for messages and manifests)."""
        return self.name if self.schema == "main" else f"{self.schema}.{self.name}"

    @property
    def ref(self) -> str:
        """The quoted SQL reference; unqualified in ``main`` so scripts load anywhere."""
        if self.schema == "main":
            return sb.quote_ident(self.name)
        return f"{sb.quote_ident(self.schema)}.{sb.quote_ident(self.name)}"


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal (single quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


async def list_user_tables(
    store: LocalStore, *, only: list[str] | None = None
) -> list[UserTable]:
    """Every persistent user table (sorted by schema, name), with row counts.

    ``only`` selects tables by ``name`` or ``schema.name``; an unknown name is an
    error that lists what exists, so a typo does not produce an empty backup.
    """
    excluded = ", ".join(sql_string(s) for s in _SYSTEM_SCHEMAS)
    rows = await store.fetch_rows(
        "SELECT c.schema_name, c.table_name, c.column_name, c.data_type, c.is_nullable "
        "FROM duckdb_columns() c JOIN duckdb_tables() t USING (database_oid, table_oid) "
        "WHERE c.database_name = current_database() AND NOT t.temporary AND NOT t.internal "
        f"AND c.schema_name NOT IN ({excluded}) "
        "ORDER BY c.schema_name, c.table_name, c.column_index")
    pks = await store.fetch_rows(
        "SELECT schema_name, table_name, constraint_column_names FROM duckdb_constraints() "
        "WHERE database_name = current_database() AND constraint_type = 'PRIMARY KEY'")
    pk_of = {(s, t): list(cols) for s, t, cols in pks}
    tables: dict[tuple[str, str], UserTable] = {}
    for schema, name, col, dtype, nullable in rows:
        t = tables.setdefault((schema, name), UserTable(
            schema=schema, name=name, columns=[], primary_key=pk_of.get((schema, name), [])))
        t.columns.append({"name": col, "type": dtype, "nullable": bool(nullable)})
        t.has_rowid_column = t.has_rowid_column or col.lower() == "rowid"
    found = list(tables.values())
    if only is not None:
        found = _select(found, only)
    for t in found:
        t.rows = int((await store.fetch_rows(f"SELECT count(*) FROM {t.ref}"))[0][0])
    return found


def _select(tables: list[UserTable], only: list[str]) -> list[UserTable]:
    by_label = {t.label: t for t in tables} | {f"{t.schema}.{t.name}": t for t in tables}
    missing = [name for name in only if name not in by_label]
    if missing:
        have = ", ".join(t.label for t in tables) or "none"
        raise BackupError(f"no table {', '.join(missing)} in the local database",
                          hint=f"choose among: {have}")
    chosen = {id(by_label[n]): by_label[n] for n in only}
    return [t for t in tables if id(t) in chosen]


def create_table_sql(table: UserTable) -> str:
    """``CREATE TABLE`` with column types, NOT NULL and PRIMARY KEY (no defaults, no FKs).

    Foreign keys and defaults are left out on purpose: they would impose an order
    between tables (or on sequences) and the script must load in any order.
    """
    defs = [f"    {sb.quote_ident(c['name'])} {c['type']}" + ("" if c["nullable"] else " NOT NULL")
            for c in table.columns]
    if table.primary_key:
        defs.append(f"    PRIMARY KEY ({sb.cols_sql(table.primary_key)})")
    return f"CREATE TABLE {table.ref} (\n" + ",\n".join(defs) + "\n);\n"
