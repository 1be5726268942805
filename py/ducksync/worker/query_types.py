"""What ``query()`` returns, exactly: DuckDB's column types, and DuckDB's text where
Arrow cannot carry a value.

DuckDB-WASM 1.32 is opened without lossless Arrow export (``workers/duck.mjs``: that flag
garbles BOOLEANs), so some types leave it lossy or unnamed: BIT as plain bytes, INTERVAL
as a month/day/nano triple the JS Arrow reader gets wrong, TIME WITH TIME ZONE without
its offset, and ENUM/UUID/HUGEINT under Arrow's names (dictionary, utf8, decimal). So the
local worker asks DuckDB for the statement's column types first (``DESCRIBE``: it binds,
nothing runs), sends them with the result (the page names columns as DuckDB does and
decodes by DuckDB's type), and for the few types Arrow cannot carry, selects DuckDB's
own text of the value instead (``CAST … AS VARCHAR``: what DuckDB prints).
"""

from __future__ import annotations

from typing import Final

from ducksync.worker import console_sql as csql

__all__ = ["AS_TEXT", "api_sql", "describe_sql"]

# Top-level column types returned as DuckDB's text (web/README.md lists the values).
AS_TEXT: Final = frozenset({"BIT", "INTERVAL", "TIME WITH TIME ZONE"})


def describe_sql(sql: str) -> str | None:
    """The DESCRIBE of ``sql`` when it is one query (else None: run it as it is)."""
    statements = csql.split(sql)
    if len(statements) != 1:
        return None
    body = csql.query_body(statements[0].sql)
    return None if body is None else csql.describe_query_sql(body)


def api_sql(sql: str, types: list[str], names: list[str]) -> str | None:
    """``sql`` with its :data:`AS_TEXT` columns as DuckDB's text (positional references,
    so duplicate names stay as they are), or None when no column needs it."""
    if not any(t in AS_TEXT for t in types):
        return None
    body = csql.query_body(csql.split(sql)[0].sql)
    exprs = ", ".join(
        (f"CAST(#{i} AS VARCHAR)" if t in AS_TEXT else f"#{i}") + f" AS {csql.quote(n)}"
        for i, (t, n) in enumerate(zip(types, names, strict=True), start=1))
    return f"SELECT {exprs} FROM ({body}\n) AS __ds_q"
