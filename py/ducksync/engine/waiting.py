"""Rows that wait for a user's decision, kept by key in the engine's own tables: manual
conflicts (``ducksync.conflicts``, ``conflicts.py``) and rows a server's sync rules
refused (``ducksync.rejections``, ``rejections.py``).

Both are listed, found and named the same way: by the key's label
(:func:`~ducksync.engine.state.key_text_sql`, what resolving or discarding takes) and,
column by column, by the key's values (what a user types: ``names_key``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, Literal

from ducksync.engine.state import ensure_state, parse_key_text
from ducksync.engine.store import LocalStore
from ducksync.errors import DucksyncError

__all__ = ["Kind", "find", "listed", "names_key"]

Kind = Literal["conflicts", "rejections"]
_NOUN: Final = {"conflicts": "pending conflict", "rejections": "rejected row"}


async def listed(local: LocalStore, kind: Kind, fields: Mapping[str, str],
                 table: str | None = None, key: str | None = None) -> list[dict[str, Any]]:
    """Rows of ``ducksync.<kind>`` (of ``table`` and ``key`` when given), by table and key,
    as dicts: ``table``, ``key`` (the label), ``key_columns``, ``key_values`` (the values
    as text; None for a label of an old form whose rows are gone), and each of ``fields``
    (name → SQL over the row, aliased ``e``)."""
    await ensure_state(local)
    rows = await local.fetch_rows(
        f"SELECT e.table_name, e.key_text, t.key_cols, {', '.join(fields.values())} FROM "
        f"ducksync.{kind} e LEFT JOIN ducksync.tables t ON t.name = e.table_name "
        "WHERE (? IS NULL OR e.table_name = ?) AND (? IS NULL OR e.key_text = ?) "
        "ORDER BY e.table_name, e.key_text", [table, table, key, key])
    return [{"table": t, "key": k, "key_columns": list(cols or []),
             "key_values": _values(k, len(cols or [])), **dict(zip(fields, rest, strict=True))}
            for t, k, cols, *rest in rows]


async def find(local: LocalStore, kind: Kind, fields: Mapping[str, str], table: str,
               key: str) -> dict[str, Any]:
    """The one row of ``ducksync.<kind>`` for ``key`` (its label) in ``table``, as
    :func:`listed` gives it; a clear error when there is none."""
    found = await listed(local, kind, fields, table, key)
    if not found:
        raise DucksyncError(f"no {_NOUN[kind]} for key {key!r} in {table!r}",
                            hint=f"list them with `ducksync {kind} LOCAL`")
    if not found[0]["key_columns"]:
        raise DucksyncError(f"table {table!r} is not synced", hint="run `ducksync sync` first")
    return found[0]


def _values(label: str, n_columns: int) -> list[str | None] | None:
    try:
        return parse_key_text(label, n_columns) if n_columns else None
    except ValueError:
        return None


def names_key(entry: dict[str, Any], typed: str) -> bool:
    """Whether ``typed`` (a user's ``--resolve KEY``, ``--discard KEY``) names ``entry``'s
    key: its label as listed, or its values as a JSON array (``["x|y", "z"]``, ``[1, "a"]``;
    for a one-column key also ``["1"]`` or ``[1]``, besides the plain ``1``)."""
    if typed == entry["key"]:
        return True
    try:
        values = json.loads(typed)
    except ValueError:
        return False
    if not isinstance(values, list) or entry["key_values"] is None:
        return False
    texts = [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
    return bool(texts == entry["key_values"])
