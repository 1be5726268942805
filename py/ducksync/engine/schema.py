"""Reconcile one table's shape on both sides before any row moves.

Rules: a table missing on one side is created from the other; a nullable column
present on one side only is added to the other (rows hash the same, because a
NULL column contributes nothing to the row hash); anything else (type change,
dropped or NOT NULL column, different keys) stops *this* table with a
:class:`SchemaMismatchError` while the other tables continue.
"""

from __future__ import annotations

from dataclasses import dataclass

from ducksync.engine import sqlbuild as sb
from ducksync.engine.keys import refuse_bad_keys
from ducksync.engine.overlap import both
from ducksync.engine.state import describe_local
from ducksync.engine.store import ColumnInfo, LocalStore, RemoteStore, TableInfo
from ducksync.errors import NoPrimaryKeyError, SchemaMismatchError

__all__ = ["Shape", "reconcile"]


@dataclass(frozen=True, kw_only=True)
class Shape:
    """The agreed shape: column names in local order, local types, and the key."""

    table: str
    columns: list[str]
    types: dict[str, str]
    key: list[str]
    local_pk: tuple[str, ...] = ()  # the local table's declared primary key
    remote_pk: tuple[str, ...] = ()  # the remote table's (when it exists)
    # The remote table was created by this reconcile: empty, unless another writer got
    # to it since (which the remote's bulk path still refuses, key by key).
    remote_created: bool = False


def _norm(t: str) -> str:
    return " ".join(t.upper().split())


def choose_key(table: str, local: TableInfo | None, remote: TableInfo | None,
               key: list[str] | None) -> list[str]:
    """The key: ``--key`` if given, else the declared primary key (which must agree)."""
    if key:
        return key
    lk = local["primary_key"] if local else []
    rk = remote["primary_key"] if remote else []
    if lk and rk and lk != rk:
        raise SchemaMismatchError(
            f"table {table!r} has primary key {lk} locally but {rk} on the remote",
            hint="align the keys, or pass --key to choose one")
    if not (lk or rk):
        raise NoPrimaryKeyError(
            f"table {table!r} has no primary key",
            hint=f"declare one (ALTER TABLE {sb.quote_ident(table)} ADD PRIMARY KEY (id)) "
                 "or pass --key COL")
    return list(lk or rk)


async def _create_local(local: LocalStore, info: TableInfo, key: list[str]) -> None:
    defs = [f"{sb.quote_ident(c['name'])} {sb.check_type(c['type'])}"
            + ("" if c["nullable"] else " NOT NULL") for c in info["columns"]]
    defs.append(f"PRIMARY KEY ({sb.cols_sql(key)})")
    await local.execute(f"CREATE TABLE {sb.quote_ident(info['name'])} ({', '.join(defs)})")


def _missing(src: TableInfo, dst: TableInfo, side: str) -> list[ColumnInfo]:
    have = {c["name"] for c in dst["columns"]}
    extra = [c for c in src["columns"] if c["name"] not in have]
    for c in extra:
        if not c["nullable"]:
            raise SchemaMismatchError(
                f"column {c['name']!r} of {src['name']!r} is NOT NULL and missing {side}",
                hint="add it on the other side too, or make it nullable")
    return extra


async def reconcile(local: LocalStore, remote: RemoteStore, table: str,
                    key: list[str] | None, *, create_remote: bool = True) -> Shape:
    """Make both sides agree on ``table``'s shape and return it."""
    # Both catalogs are read at once: the remote's answer is a round trip.
    linfo, rinfo = await both(describe_local(local, table), remote.describe_table(table))
    if linfo is None and rinfo is None:
        raise SchemaMismatchError(f"table {table!r} exists on neither side",
                                  hint="check the name passed to --table")
    k = choose_key(table, linfo, rinfo, key)
    created = False
    if linfo is None:
        assert rinfo is not None
        await _create_local(local, rinfo, k)
        linfo = await describe_local(local, table)
    elif rinfo is None and create_remote:
        if linfo["primary_key"] != k:  # nothing on the remote before the rows can go
            await refuse_bad_keys(local, table, k, sb.quote_ident(table), side="local")
        await remote.create_table(table, linfo["columns"], k)
        rinfo = await remote.describe_table(table)
        created = True
    assert linfo is not None
    if rinfo is not None:
        ltypes = {c["name"]: c["type"] for c in linfo["columns"]}
        for c in rinfo["columns"]:
            if c["name"] in ltypes and _norm(ltypes[c["name"]]) != _norm(c["type"]):
                raise SchemaMismatchError(
                    f"column {table}.{c['name']} is {ltypes[c['name']]} locally but "
                    f"{c['type']} on the remote",
                    hint="change one side to match; other tables keep syncing")
        to_remote = _missing(linfo, rinfo, "on the remote")
        to_local = _missing(rinfo, linfo, "locally")
        if to_remote:
            await remote.add_columns(table, to_remote)
        for c in to_local:
            await local.execute(f"ALTER TABLE {sb.quote_ident(table)} ADD COLUMN "
                                f"{sb.quote_ident(c['name'])} {sb.check_type(c['type'])}")
        if to_local:
            linfo = await describe_local(local, table)
            assert linfo is not None
    names = {c["name"] for c in linfo["columns"]}
    if not set(k) <= names:
        raise SchemaMismatchError(f"key {k} is not a set of columns of {table!r}",
                                  hint="pass --key with existing columns")
    return Shape(table=table, columns=[c["name"] for c in linfo["columns"]],
                 types={c["name"]: c["type"] for c in linfo["columns"]}, key=k,
                 local_pk=tuple(linfo["primary_key"]), remote_created=created,
                 remote_pk=tuple(rinfo["primary_key"]) if rinfo else ())
