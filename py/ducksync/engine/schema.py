"""Reconcile one table's shape on both sides before any row moves.

Rules (docs/engine.md, "Schema"): a *new* table on one side is created on the
other; a *new* nullable column on one side is added to the other (rows hash the
same, because a NULL column contributes nothing to the row hash). What was synced
before and is missing now was dropped, and a disappearance never becomes deletions
on the other side: a dropped table stops with :class:`TableDroppedError` (the other
side keeps its copy), a dropped (or renamed) column with :class:`SchemaMismatchError`
(its values are not nulled). Anything else (type change, NOT NULL column, different
keys) stops *this* table with a :class:`SchemaMismatchError`; the others continue.
"New" and "before" come from ``ducksync.tables`` (:class:`state.Agreed`), read only
when the two sides differ.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Final, Literal, cast

from ducksync.engine import sqlbuild as sb
from ducksync.engine import state
from ducksync.engine.keys import add_pending_key, refuse_bad_keys
from ducksync.engine.limits import check_rows_fit
from ducksync.engine.overlap import both
from ducksync.engine.state import describe_local
from ducksync.engine.store import ColumnInfo, LocalStore, RemoteStore, TableInfo
from ducksync.engine.transaction import transaction
from ducksync.errors import NoPrimaryKeyError, SchemaMismatchError, TableDroppedError

Side = Literal["local", "remote"]

__all__ = ["ASK", "Shape", "reconcile"]


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
    # The local table was created here without its PRIMARY KEY, still to be added
    # (``local_pk`` is the one it gets): by the bootstrap at its end, else before
    # anything else reads or writes it (keys.add_pending_key).
    key_pending: bool = False
    # The local table, its sync state's row (tied to the remote) and its base were all
    # created by this reconcile, in one transaction: the state is known without reading
    # it back (state.ensure_base, state.bind_remote: sync.sync_table).
    state_made: bool = False


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


async def _create_local(local: LocalStore, info: TableInfo, key: list[str], *,
                        defer_key: bool, stateless_for: str | None = None) -> TableInfo:
    """``defer_key``: created without the PRIMARY KEY (its columns NOT NULL), the key
    recorded as pending in the same transaction (keys.add_pending_key adds it);
    ``stateless_for``: the table has no state row, which is then inserted tied to this
    remote id (:func:`state.defer_key_statements`).

    Returns the created table's description, as :func:`describe_local` would read it
    back (the columns and types of ``info``, the statement's nullability, ``key``): one
    catalog query fewer on every new table (a round trip in the browser)."""
    cols: list[ColumnInfo] = [
        {"name": c["name"], "type": c["type"],
         "nullable": c["nullable"] and not (defer_key and c["name"] in key)}
        for c in info["columns"]]
    defs = [f"{sb.quote_ident(c['name'])} {sb.check_type(c['type'])}"
            + ("" if c["nullable"] else " NOT NULL") for c in cols]
    create = f"CREATE TABLE {sb.quote_ident(info['name'])} ({', '.join(defs)}"
    made: TableInfo = {"name": info["name"], "columns": cols, "primary_key": list(key)}
    if not defer_key:
        await local.execute(f"{create}, PRIMARY KEY ({sb.cols_sql(key)}))")
        return made
    marks = state.defer_key_statements(info["name"], key,
                                       {c["name"]: c["type"] for c in info["columns"]},
                                       remote_id=stateless_for)
    async with transaction(local):
        await local.execute(f"{create})")
        for sql, params in marks:
            await local.execute(sql, params)
    return made


def _missing(src: TableInfo, dst: TableInfo, side: str) -> list[ColumnInfo]:
    have = {c["name"] for c in dst["columns"]}
    extra = [c for c in src["columns"] if c["name"] not in have]
    for c in extra:
        if not c["nullable"]:
            raise SchemaMismatchError(
                f"column {c['name']!r} of {src['name']!r} is NOT NULL and missing {side}",
                hint="add it on the other side too, or make it nullable")
    return extra


ASK: Final = object()  # reconcile's ``remote_info`` when the caller did not survey it


def _where(side: Side) -> str:
    return "locally" if side == "local" else "on the remote"


def _dropped_table(table: str, side: Side) -> TableDroppedError:
    t, js = shlex.quote(table), json.dumps(table)  # as typed in a shell, in JS
    keeper = "the remote" if side == "local" else "this side"
    restore = (f"`ducksync pull LOCAL REMOTE --table {t}` downloads it again "
               f"(JS: ducksync.redownload({js}))" if side == "local" else
               f"`ducksync push LOCAL REMOTE --table {t}` uploads it again "
               f"(JS: ducksync.reupload({js}))")
    return TableDroppedError(
        f"table {table!r} was dropped {_where(side)} since the last sync: it no longer "
        f"syncs, and {keeper} keeps its copy (nothing was deleted)",
        hint=f"to keep it, {restore}; to drop it everywhere, `ducksync drop LOCAL REMOTE "
             f"{t} --everywhere` (JS: ducksync.dropEverywhere({js}))",
        side=side)


def _dropped_column(table: str, col: ColumnInfo, side: Side) -> SchemaMismatchError:
    other: Side = "remote" if side == "local" else "local"
    t, c = sb.quote_ident(table), sb.quote_ident(col["name"])
    return SchemaMismatchError(
        f"column {table}.{col['name']} was dropped {_where(side)} since the last sync "
        f"({other}: {col['name']} {col['type']}; {side}: no such column); syncing would "
        f"replace its values {_where(other)} with NULL, so {table!r} stops here",
        hint=f"to drop it everywhere, drop it {_where(other)} too (ALTER TABLE {t} DROP "
             f"COLUMN {c}); to keep it, restore it with its values {_where(side)} (added "
             "back empty it would still null them); other tables keep syncing")


async def _gone(local: LocalStore, table: str, remote_id: str | None,
                side: Side | None, restore: Side | None) -> tuple[bool, bool]:
    """A table missing on ``side`` (None: on both): ``(forgotten, stateless)``.
    ``forgotten``: it was synced with this remote before (its state is then forgotten
    if it may be restored, or is gone on both sides); raises :class:`TableDroppedError`
    when it stops syncing. ``stateless``: no state row of it is left (never synced, or
    just forgotten)."""
    prior = await state.agreed(local, table)
    if prior is None:
        return False, True  # new here
    if side is not None and prior.remote_id not in (None, remote_id):
        return False, False  # known only against another remote database
    if side is not None and side != restore:
        raise _dropped_table(table, side)
    await state.forget_table(local, table)
    return True, True


async def _check_dropped_columns(local: LocalStore, table: str, remote_id: str | None,
                                 linfo: TableInfo, rinfo: TableInfo) -> None:
    """A column on one side only that both sides held at the last sync was dropped on
    the other: refuse (re-adding it would null its values everywhere)."""
    lnames = {c["name"] for c in linfo["columns"]}
    rnames = {c["name"] for c in rinfo["columns"]}
    if lnames == rnames:
        return
    prior = await state.agreed(local, table)
    if prior is None or prior.remote_id not in (None, remote_id) or prior.columns is None:
        return  # never synced with this remote, or state from before columns were kept
    held = set(prior.columns)
    for c in linfo["columns"]:
        if c["name"] in held and c["name"] not in rnames:
            raise _dropped_column(table, c, "remote")
    for c in rinfo["columns"]:
        if c["name"] in held and c["name"] not in lnames:
            raise _dropped_column(table, c, "local")


async def reconcile(local: LocalStore, remote: RemoteStore, table: str,
                    key: list[str] | None, *, create_remote: bool = True,
                    remote_info: TableInfo | object | None = ASK,
                    remote_id: str | None = None, restore: Side | None = None,
                    defer_key: bool = False) -> Shape | None:
    """Make both sides agree on ``table``'s shape and return it.

    ``remote_info``: the remote's description from this run's survey (None: the table
    does not exist there); by default it is asked here. ``remote_id``: the remote
    database's id (what "synced before" is relative to; None: no dropped-table or
    dropped-column check). ``restore``: the side on which a table dropped since the
    last sync may be created again from the other (an explicit pull or push naming
    it); its state is forgotten first, so that is a first sync. ``defer_key``: the
    caller bootstraps a local table created here (its rows are pulled next): it is
    created without its PRIMARY KEY (see :class:`Shape`'s ``key_pending``).
    Returns None when a table synced before is gone on both sides (state forgotten).
    """
    if remote_info is ASK:
        # Both catalogs are read at once: the remote's answer is a round trip.
        linfo, rinfo = await both(describe_local(local, table), remote.describe_table(table))
    else:
        linfo, rinfo = await describe_local(local, table), cast(TableInfo | None, remote_info)
    pending = False
    if linfo is not None and not linfo["primary_key"]:
        owed = await state.pending_key(local, table)
        if owed is not None and rinfo is None:  # no bootstrap to wait for: add it now
            await add_pending_key(local, table, {c["name"]: c["type"] for c in linfo["columns"]})
            linfo = await describe_local(local, table)
        elif owed is not None:  # the bootstrap, or the first round, adds it
            linfo, pending = {**linfo, "primary_key": owed}, True
    if linfo is None and rinfo is None:
        if remote_id is not None and (await _gone(local, table, remote_id, None, None))[0]:
            return None
        raise SchemaMismatchError(f"table {table!r} exists on neither side",
                                  hint="check the name passed to --table")
    stateless = False  # known: no state row of the table (read just now)
    if (linfo is None or rinfo is None) and remote_id is not None:
        _, stateless = await _gone(local, table, remote_id,
                                   "local" if linfo is None else "remote", restore)
    k = choose_key(table, linfo, rinfo, key)
    created = made = False
    if linfo is None:
        assert rinfo is not None
        pending = defer_key and list(rinfo["primary_key"]) == k
        made = pending and stateless
        linfo = await _create_local(local, rinfo, k, defer_key=pending,
                                    stateless_for=remote_id if made else None)
    elif rinfo is None and create_remote:
        if linfo["primary_key"] != k:  # nothing on the remote before the rows can go
            await refuse_bad_keys(local, table, k, sb.quote_ident(table), side="local")
        await check_rows_fit(local, remote, table,  # before creating
                             {c["name"]: c["type"] for c in linfo["columns"]}, k)
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
                    hint="change one side's type to match (ALTER TABLE … ALTER … TYPE …); "
                         "nothing was changed and other tables keep syncing")
        if remote_id is not None:
            await _check_dropped_columns(local, table, remote_id, linfo, rinfo)
        to_remote = _missing(linfo, rinfo, "on the remote")
        to_local = _missing(rinfo, linfo, "locally")
        if to_remote:
            await remote.add_columns(table, to_remote)
        for c in to_local:
            await local.execute(f"ALTER TABLE {sb.quote_ident(table)} ADD COLUMN "
                                f"{sb.quote_ident(c['name'])} {sb.check_type(c['type'])}")
        if to_local:
            described = await describe_local(local, table)
            assert described is not None
            linfo = {**described, "primary_key": linfo["primary_key"]}  # or the one owed
        if to_remote or to_local:  # held by both now: a drop from here on is a drop
            await state.set_synced_columns(local, table, [c["name"] for c in linfo["columns"]])
    names = {c["name"] for c in linfo["columns"]}
    if not set(k) <= names:
        raise SchemaMismatchError(f"key {k} is not a set of columns of {table!r}",
                                  hint="pass --key with existing columns")
    return Shape(table=table, columns=[c["name"] for c in linfo["columns"]],
                 types={c["name"]: c["type"] for c in linfo["columns"]}, key=k,
                 local_pk=tuple(linfo["primary_key"]), remote_created=created,
                 key_pending=pending, state_made=made,
                 remote_pk=tuple(rinfo["primary_key"]) if rinfo else ())
