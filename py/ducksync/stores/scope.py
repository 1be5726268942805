"""A principal's slice of each table: what the remote store reads and may write.

Why here, in the store: every answer a client gets about a table (its checksum, its
row count, its hashes, its rows) comes from a handful of statements of
:class:`~ducksync.stores.sql_remote.SqlRemoteStore`. Instead of editing each, a
scoped read runs with a ``WITH "T" AS (SELECT * FROM main."T" WHERE (filter))``
prefix: inside that statement the name ``"T"`` *is* the principal's rows, so each
statement computes over them and nothing else, unchanged (a CTE shadows a table of
the same name; the qualified ``main."T"`` inside it is the real table). The filter's
parameters come first in the bound list, as the prefix comes first in the text.

Writes are not shadowed (compare-and-swap must see the real table, or an insert of a
key another user holds would look like an insert into nothing): a batch is screened
first (:func:`rejections_sql`) and the rows it refuses are answered ``rejected:*``
instead of being applied.

Pure text, no duckdb (runs in Pyodide like the store); the server builds the scopes
from its rules file (:mod:`ducksync.server.rules`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ducksync.engine import sqlbuild as sb
from ducksync.engine.rejections import NOT_YOURS, OUTSIDE, READ_ONLY
from ducksync.engine.store import TableInfo

__all__ = ["Scopes", "TableScope", "rejections_sql", "scoped_sql"]


@dataclass(frozen=True, kw_only=True)
class TableScope:
    """The rows of one table a principal may see: ``filter_sql`` (a boolean expression
    over the table's columns, one ``?`` per value of ``params``, in order); and whether
    they may change them (``writable``)."""

    filter_sql: str
    params: tuple[Any, ...]
    writable: bool

    @property
    def cache_key(self) -> Hashable:
        """Identifies the slice: two principals with equal keys see the same rows, so a
        cached answer of one is the other's (the server's read cache keys by it)."""
        return (self.filter_sql, tuple(_hashable(p) for p in self.params))


# table -> its scope; a table absent from a non-None mapping may not be synced at all.
Scopes = Mapping[str, TableScope]


def _hashable(value: Any) -> Hashable:
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    return (type(value).__name__, value)


def scoped_sql(scopes: Scopes, tables: Sequence[str], sql: str,
               params: Sequence[Any]) -> tuple[str, list[Any]]:
    """``sql`` (a read starting with SELECT) over each of ``tables`` as seen through
    its scope, with the scopes' parameters bound first. A table without a scope in
    ``scopes`` keeps its name (the caller checked it may be read)."""
    ctes: list[str] = []
    bound: list[Any] = []
    for table in dict.fromkeys(tables):
        scope = scopes.get(table)
        if scope is None:
            continue
        t = sb.quote_ident(table)
        ctes.append(f"{t} AS (SELECT * FROM main.{t} WHERE ({scope.filter_sql}))")
        bound.extend(scope.params)
    if not ctes:
        return sql, list(params)
    return "WITH " + ", ".join(ctes) + " " + sql, [*bound, *params]


def _in_scope(scope: TableScope) -> str:
    """The filter as a total predicate: NULL (unknown) is outside."""
    return f"coalesce(({scope.filter_sql}), false)"


def rejections_sql(info: TableInfo, key: Sequence[str], scope: TableScope, source: str,
                   casts: str) -> tuple[str, list[Any]]:
    """``(key…, __ds_lh, __ds_status)`` of the rows of batch ``source`` the scope refuses.

    Read-only: every row. Else a row is refused when the remote holds its key in a row
    outside the scope (``not-yours``: updating or deleting it would change another's
    row; inserting it would too), or when it is an upsert whose new values fail the
    filter (``outside``: the row would leave the principal's rows). ``casts``: the
    batch's columns cast to the table's types (``r``), as the write itself casts them,
    so the filter judges exactly the values that would be written.
    """
    keys = sb.cols_sql(key)
    lh = "r.__ds_lh::UBIGINT AS __ds_lh"
    if not scope.writable:
        sql = (f"SELECT {keys}, __ds_lh, '{READ_ONLY}' AS __ds_status FROM "
               f"(SELECT {casts}, {lh} FROM {source} r)")
        return sql, []
    t = sb.quote_ident(info["name"])
    wanted = ", ".join(f"{sb.quote_ident(k)}" for k in key)
    # The held rows with the batch's keys, then the filter over them alone (the filter
    # names the table's columns, which the batch's columns would make ambiguous).
    held = (f"SELECT {wanted} FROM (SELECT t.* FROM main.{t} t SEMI JOIN (SELECT {casts} "
            f"FROM {source} r) w ON {sb.key_join_sql(key, 't', 'w')}) AS {t} "
            f"WHERE NOT {_in_scope(scope)}")
    fresh = (f"SELECT *, {_in_scope(scope)} AS __ds_ok FROM (SELECT {casts}, {lh}, "
             f"r.__ds_op::VARCHAR AS __ds_op FROM {source} r) AS {t}")
    sql = (f"WITH __ds_held AS ({held}), __ds_new AS ({fresh}) "
           f"SELECT {sb.cols_sql(key, 'n')}, n.__ds_lh, CASE WHEN h.{sb.quote_ident(key[0])} "
           f"IS NOT NULL THEN '{NOT_YOURS}' ELSE '{OUTSIDE}' END AS __ds_status "
           f"FROM __ds_new n LEFT JOIN __ds_held h ON {sb.key_join_sql(key, 'n', 'h')} "
           f"WHERE h.{sb.quote_ident(key[0])} IS NOT NULL OR (n.__ds_op = 'U' AND NOT "
           "n.__ds_ok)")
    return sql, [*scope.params, *scope.params]
