"""The opt-in read-only SQL console (``DUCKSYNC_READONLY_CONSOLE=1``).

The one place the server runs client-written SQL, so it says "no" by default and
trusts DuckDB's own parser rather than regexes:

1. ``extract_statements``: exactly one statement, of type SELECT;
2. ``json_serialize_sql``: the parse tree may read only allowlisted tables (CTE
   names aside), calls no table function (``read_csv``, ``duckdb_settings``…)
   and none of the scalar functions that reveal settings or touch files;
3. it runs on its own cursor inside ``BEGIN TRANSACTION READ ONLY``, which
   DuckDB enforces, and is rolled back; the result is capped at ``max_rows``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ducksync.errors import ProtocolError, QueryError
from ducksync.server.errors import ForbiddenError
from ducksync.server.parse_tree import nodes, reads_outside

if TYPE_CHECKING:
    import duckdb

MAX_SQL_CHARS = 20_000
_HINT = "the console runs one SELECT over the synced tables; use the sync API for writes"


def check_tree(tree: Any, *, allowed: Callable[[str], bool]) -> None:
    """Reject a parse tree that reads anything but allowed tables through plain SQL."""
    ctes = {entry.get("key") for node in nodes(tree) if isinstance(node.get("cte_map"), dict)
            for entry in node["cte_map"].get("map", []) if isinstance(entry, dict)}
    for node in nodes(tree):
        kind = node.get("type")
        if kind == "TABLE_FUNCTION":
            raise ForbiddenError("table functions are not allowed in the console", hint=_HINT)
        if kind == "BASE_TABLE":
            name = str(node.get("table_name", ""))
            if node.get("catalog_name") or node.get("schema_name") not in ("", "main"):
                raise ForbiddenError(f"table {name!r} is outside the synced tables", hint=_HINT)
            if name not in ctes and not allowed(name):
                raise ForbiddenError(f"table {name!r} is not on the allowlist", hint=_HINT)
        if node.get("class") == "FUNCTION":
            fn = str(node.get("function_name", "")).lower()
            if reads_outside(fn):
                raise ForbiddenError(f"function {fn}() is not allowed in the console",
                                     hint=_HINT)


def validate(cursor: duckdb.DuckDBPyConnection, sql: str, *,
             allowed: Callable[[str], bool]) -> None:
    import duckdb

    if len(sql) > MAX_SQL_CHARS:
        raise ProtocolError(f"query longer than {MAX_SQL_CHARS} characters", hint=_HINT)
    try:
        statements = cursor.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"cannot parse query: {exc}", hint="fix the SQL syntax") from exc
    if len(statements) != 1:
        raise ForbiddenError(f"expected exactly one statement, got {len(statements)}",
                             hint=_HINT)
    if statements[0].type != duckdb.StatementType.SELECT:
        raise ForbiddenError(f"{statements[0].type.name} statements are not allowed; "
                             "only SELECT", hint=_HINT)
    raw = cursor.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    tree = json.loads(raw[0]) if raw else {"error": True}
    if tree.get("error"):
        raise ForbiddenError("query cannot be analysed, so it is refused", hint=_HINT)
    check_tree(tree, allowed=allowed)


def run_readonly(cursor: duckdb.DuckDBPyConnection, sql: str, *,
                 allowed: Callable[[str], bool], max_rows: int) -> bytes:
    """Validate, run in a read-only transaction, return Arrow IPC (at most ``max_rows``)."""
    import duckdb

    from ducksync.stores._arrow import to_ipc

    validate(cursor, sql, allowed=allowed)
    cursor.execute("BEGIN TRANSACTION READ ONLY")
    try:
        reader = cursor.execute(sql).to_arrow_reader(batch_size=min(max_rows, 65_536))
        if reader is None:
            raise QueryError("query returned no result set", hint=_HINT)
        parts, remaining = [], max_rows
        for batch in reader:
            if remaining <= 0:
                break
            parts.append(batch.slice(0, remaining))
            remaining -= parts[-1].num_rows
        return to_ipc(parts or reader.schema.empty_table())
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {exc}", hint="check table and column names") from exc
    finally:
        cursor.execute("ROLLBACK")
