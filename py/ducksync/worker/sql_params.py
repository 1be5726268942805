"""Bind ``?`` parameters as SQL literals, for the DuckDB-WASM local store.

Why: DuckDB-WASM's prepared statements take parameters as JSON, which loses
UBIGINT precision (row hashes are 64-bit) and has no lists (``?::UBIGINT[]``).
The engine's parameters are small metadata (names, ids, hashes, bucket lists),
never row data, so rendering them as exact literals is both safe and cheap.
Bulk data never goes through here: it moves as Arrow IPC.

Only ``?`` outside string literals, quoted identifiers and comments is a
placeholder; every value is rendered so it reads back as exactly itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ducksync.errors import QueryError

__all__ = ["bind", "literal"]


def literal(value: Any) -> str:
    """One Python value as a DuckDB literal (str, int, float, bool, None, bytes, list)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "'nan'::DOUBLE"
        if math.isinf(value):
            return "'inf'::DOUBLE" if value > 0 else "'-inf'::DOUBLE"
        return repr(value) + "::DOUBLE"
    if isinstance(value, str):
        if "\x00" in value:
            raise QueryError("a text parameter contains a NUL character")
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bytes | bytearray | memoryview):
        return "from_hex('" + bytes(value).hex() + "')"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise QueryError(f"cannot bind a parameter of type {type(value).__name__}",
                     hint="pass str, int, float, bool, None, bytes or a list of those")


def _placeholders(sql: str) -> list[int]:
    """Offsets of ``?`` placeholders (not inside quotes or comments)."""
    out: list[int] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"":
            end = sql.find(ch, i + 1)
            while end != -1 and sql[end + 1:end + 2] == ch:  # doubled quote
                end = sql.find(ch, end + 2)
            i = n if end == -1 else end + 1
            continue
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end == -1 else end + 1
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end == -1 else end + 2
            continue
        if ch == "?":
            out.append(i)
        i += 1
    return out


def bind(sql: str, params: Sequence[Any] = ()) -> str:
    """``sql`` with each ``?`` replaced by the literal of the matching parameter."""
    spots = _placeholders(sql)
    if len(spots) != len(params):
        raise QueryError(f"statement has {len(spots)} placeholders but {len(params)} "
                         "parameters were given", hint=f"while binding: {sql[:200]}")
    if not spots:
        return sql
    parts, last = [], 0
    for pos, value in zip(spots, params, strict=True):
        parts += [sql[last:pos], literal(value)]
        last = pos + 1
    parts.append(sql[last:])
    return "".join(parts)
