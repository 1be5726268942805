"""SQL the server did not write, judged on DuckDB's own parse tree (``json_serialize_sql``).

Two places take such SQL: the read-only console (a client's SELECT, ``console.py``) and the
sync rules' filters (an operator's expression that runs in every read of every principal,
``rules.py``). Both walk the tree the parser built, not the text (a regex misses what the
parser sees), and both refuse the same functions: those that read settings, secrets, the
environment, files or the catalog, or change the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

__all__ = ["READS_OUTSIDE", "READS_OUTSIDE_PREFIXES", "nodes", "reads_outside"]

READS_OUTSIDE: Final = frozenset({
    "current_setting", "getenv", "getvariable", "which_secret", "read_text", "read_blob",
    "load", "install", "export_database", "nextval", "currval", "setseed", "query",
    "query_table", "pragma", "sql_auto_complete", "glob", "md_run", "md_user_info",
})
READS_OUTSIDE_PREFIXES: Final = ("duckdb_", "read_", "pragma_", "md_", "parquet_", "iceberg_",
                                 "delta_", "sniff_")


def nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every object of a parse tree (or of one of its parts), depth first."""
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from nodes(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from nodes(item)


def reads_outside(function_name: str) -> bool:
    """A call of ``function_name`` would reach beyond the rows it is given."""
    fn = function_name.lower()
    return fn in READS_OUTSIDE or fn.startswith(READS_OUTSIDE_PREFIXES)
