"""Key values must tell rows apart: a NULL or a repeated key is refused before anything moves.

Rows are matched across the two sides by key. A NULL never equals anything, so a
row with a NULL key would be skipped (never sent, never compared), and a key held
by several rows would collapse them into one (a pull deletes every local row with
the key, then inserts the remote's). A declared PRIMARY KEY rules both out (DuckDB
and MotherDuck enforce it), so only a key that the side does not declare is
checked: locally when the table is about to be created on the remote or has
changes, remotely on the rows detection reads. The check is one aggregate over the
relation, and it runs before the remote table is created and before any row is
written on either side.

Also checked by the remote itself, for ``push`` alone (which reads no remote rows):
``stores.remote_sql.repeated_keys_sql`` in its compare-and-swap.

A table the engine creates for a bootstrap is created *without* its PRIMARY KEY (key
columns NOT NULL): a keyed insert costs most of a page's commit. Its key is recorded
as pending (``ducksync.tables.pending_key``) in the transaction that creates it, and
:func:`add_pending_key` adds it: the bootstrap at its end, anything else that needs
it before (docs/engine.md, "Bulk bootstrap").
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import Final, Literal

from ducksync.engine import sqlbuild as sb
from ducksync.engine.state import base_table, forget_base_sums, key_text_sql
from ducksync.engine.store import LocalStore
from ducksync.engine.transaction import transaction
from ducksync.errors import DucksyncError, InvalidKeyError, SchemaMismatchError

__all__ = ["SAMPLE", "add_pending_key", "refuse_bad_keys"]

_DUP: Final = "__ds_dup"  # the rows of keys held twice, with their hashes and the base's
_DUP_KEYS: Final = "__ds_dup_keys"  # per such key: how many contents written here, the row kept

SAMPLE = 3  # offending keys named in the message


def _check_sql(key: list[str], source: str) -> str:
    """One pass: keys on several rows or with a NULL, grouped, then summed.

    Columns: repeated keys, rows holding them, their sample (``label (n rows)``), then
    per key column the rows where it is NULL, then a sample of keys with a NULL."""
    nulls = " OR ".join(f"{sb.quote_ident(k)} IS NULL" for k in key)
    label = key_text_sql(key, "g")
    per_column = "".join(f", sum(n) FILTER (WHERE {sb.quote_ident(k)} IS NULL)::BIGINT"
                         for k in key)
    return (
        f"WITH g AS (SELECT {sb.cols_sql(key)}, count(*) AS n FROM {source} GROUP BY ALL "
        f"HAVING count(*) > 1 OR {nulls}) "
        f"SELECT count(*) FILTER (WHERE NOT ({nulls})), "
        f"sum(n) FILTER (WHERE NOT ({nulls}))::BIGINT, "
        f"(SELECT string_agg(s, ', ' ORDER BY n DESC, s) FROM (SELECT {label} || ' (' || n "
        f"|| ' rows)' AS s, n FROM g WHERE NOT ({nulls}) ORDER BY n DESC, s LIMIT {SAMPLE}))"
        f"{per_column}, (SELECT string_agg(s, ', ' ORDER BY s) FROM (SELECT {label} AS s "
        f"FROM g WHERE {nulls} ORDER BY s LIMIT {SAMPLE})) FROM g")


async def refuse_bad_keys(local: LocalStore, table: str, key: list[str], source: str, *,
                          side: Literal["local", "remote"]) -> None:
    """Raise :class:`InvalidKeyError` when ``source`` (a relation of the local database
    with the ``key`` columns: the table itself, or the remote rows detection fetched)
    holds a NULL in a key column or a key on several rows."""
    row = (await local.fetch_rows(_check_sql(key, source)))[0]
    repeated, repeated_rows, sample = int(row[0] or 0), int(row[1] or 0), row[2]
    null_rows = [int(n or 0) for n in row[3:3 + len(key)]]
    null_sample = row[3 + len(key)]
    if not repeated and not any(null_rows):
        return
    cols = ", ".join(key)
    problems = [f"{k} is NULL in {n} row{'s' if n > 1 else ''}"
                for k, n in zip(key, null_rows, strict=True) if n]
    if any(null_rows) and len(key) > 1 and null_sample:
        problems[-1] += f" (e.g. {null_sample})"
    if repeated:
        problems.append(f"{repeated} key value{'s are' if repeated > 1 else ' is'} held by "
                        f"more than one row ({repeated_rows} rows), e.g. {sample}")
    where = "the local table" if side == "local" else "the remote table"
    fix = ("in the local table" if side == "local" else "on the remote")
    done = "nothing was sent or changed" if side == "local" else "no row was pulled or changed"
    raise InvalidKeyError(
        f"{where} {table!r} has rows its key ({cols}) cannot tell apart: "
        + "; ".join(problems),
        hint=f"give every row a unique, non-NULL ({cols}) {fix}, or pass --key with columns "
             f"that identify each row; {done}")


async def add_pending_key(local: LocalStore, table: str, types: Mapping[str, str]) -> bool:
    """Give ``table`` the PRIMARY KEY it was created without (``state.pending_key``), and
    clear the mark in the same transaction. No mark: nothing to do.

    Without the key, rows a bootstrap's pages bring and rows written here meanwhile may
    share a key. Resolved as the keyed pages did it: the row written here is kept, the
    page's copy (the row whose hash is its base row's ``lh``) and that base row go, so
    the next round sees a key written on both sides against no base (a conflict, or the
    same content settling); copies identical to one another are one row. Keys whose
    rows written here differ among themselves cannot be told apart: an
    :class:`InvalidKeyError` names them, nothing is changed and the mark stays (the next
    sync tries again). ``types``: the table's columns and types (the row hash).
    Returns True when it deleted rows (the base's kept sums are then forgotten)."""
    rows = await local.fetch_rows(
        "SELECT pending_key, key_cols FROM ducksync.tables WHERE name = ?", [table])
    if not rows or rows[0][0] is None:
        return False
    key, base_key = list(rows[0][0]), list(rows[0][1] or [])
    try:
        await _add_key(local, table, key)
        return False
    except DucksyncError:  # a key held twice, or an index created here meanwhile
        await _refuse_indexes(local, table, key)
    await _resolve_duplicates(local, _resolve_sql(table, key, types, base_key == key), table, key)
    await _add_key(local, table, key)
    return True


async def _refuse_indexes(local: LocalStore, table: str, key: list[str]) -> None:
    """DuckDB adds no key to a table an index depends on: one created here while the
    rows arrived. Said by name, with the fix (the engine does not drop a user's index:
    DuckDB cannot drop and re-create an index of the same name in one transaction, so
    a crash between the two would lose it)."""
    found = [str(n) for (n,) in await local.fetch_rows(
        "SELECT index_name FROM duckdb_indexes() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = ? ORDER BY 1", [table])]
    if found:
        cols = ", ".join(key)
        raise SchemaMismatchError(
            f"table {table!r} cannot get its primary key ({cols}) while index"
            f"{'es' if len(found) > 1 else ''} {', '.join(map(repr, found))} depend"
            f"{'' if len(found) > 1 else 's'} on it (created while its rows were arriving)",
            hint=f"drop {'them' if len(found) > 1 else 'it'} (DROP INDEX "
                 f"{sb.quote_ident(found[0])}), sync, then create "
                 f"{'them' if len(found) > 1 else 'it'} again; nothing was changed or "
                 "sent, and the rows pulled so far are kept")


async def _add_key(local: LocalStore, table: str, key: list[str]) -> None:
    """The ALTER and the mark's clearing, in one transaction whose ``COMMIT``
    checkpoints: the new index is written to the database file once.

    DuckDB decides at a commit whether to checkpoint from the transaction's estimated
    size, in which an index built by ``ADD PRIMARY KEY`` does not count: the commit
    wrote the whole index to the WAL (a 1M-row key: 7.6 MiB) and the next checkpoint
    wrote it again. So ``checkpoint_threshold`` is 0 for that commit alone (set just
    before it, restored right after). Where DuckDB cannot checkpoint then (another
    connection's transaction is open) the commit writes the WAL as before."""
    threshold = await _checkpoint_threshold(local)
    try:
        async with transaction(local):
            await local.execute(f"ALTER TABLE {sb.quote_ident(table)} ADD PRIMARY KEY "
                                f"({sb.cols_sql(key)})")
            await local.execute("UPDATE ducksync.tables SET pending_key = NULL WHERE name = ?",
                                [table])
            if threshold is not None:
                await local.execute("SET checkpoint_threshold = '0b'")
    finally:
        if threshold is not None:
            # A failed restore leaves commits checkpointing (slower, never wrong) until
            # the database is opened again with its own setting.
            with contextlib.suppress(DucksyncError):
                await local.execute(f"SET checkpoint_threshold = '{threshold}'")


_SIZE: Final = re.compile(r"[0-9]+(\.[0-9]+)? ?[A-Za-z]*")  # DuckDB's text of a size


async def _checkpoint_threshold(local: LocalStore) -> str | None:
    """The database's ``checkpoint_threshold`` as DuckDB shows it (``'976.5 KiB'`` for
    1 MB: set again from that text, it is within the text's rounding, 64 bytes here);
    None when it cannot be read as a size (then the key's commit is left as it is)."""
    try:
        found = await local.fetch_rows("SELECT current_setting('checkpoint_threshold')")
    except DucksyncError:
        return None
    text = str(found[0][0]) if found and found[0][0] is not None else ""
    return text if _SIZE.fullmatch(text) else None


def _resolve_sql(table: str, key: list[str], types: Mapping[str, str],
                 with_base: bool) -> list[str]:
    """Statements that leave each key of ``table`` on one row (see
    :func:`add_pending_key`); ``with_base``: the base is keyed by ``key`` (else its rows
    cannot say which copy a page brought: every copy counts as written here)."""
    t, ks, base = sb.quote_ident(table), sb.cols_sql(key), base_table(table)
    lh = (f"(SELECT b.__lh FROM {base} b WHERE {sb.key_join_sql(key, 'b', 'x')})"
          if with_base else "NULL::UBIGINT")
    mine = "(__ds_lh IS NULL OR __ds_h <> __ds_lh)"  # not the page's copy
    # DuckDB builds the index from the committed rows: the deletes commit first (a state
    # that is safe on its own: the key then is a local write against no base).
    return [
        f"CREATE OR REPLACE TEMP TABLE {_DUP} AS SELECT x.rowid AS __ds_row, "
        f"{sb.cols_sql(key, 'x')}, {sb.row_hash_sql(types, 'x')} AS __ds_h, {lh} AS __ds_lh "
        f"FROM {t} x SEMI JOIN (SELECT {ks} FROM {t} GROUP BY ALL HAVING count(*) > 1) d "
        f"ON {sb.key_join_sql(key, 'x', 'd')}",
        f"CREATE OR REPLACE TEMP TABLE {_DUP_KEYS} AS SELECT {ks}, count(DISTINCT __ds_h) "
        f"FILTER (WHERE {mine}) AS __ds_mine, coalesce(min(__ds_row) FILTER (WHERE {mine}), "
        f"min(__ds_row)) AS __ds_row FROM {_DUP} GROUP BY ALL",
        f"DELETE FROM {t} WHERE rowid IN (SELECT __ds_row FROM {_DUP}) AND rowid NOT IN "
        f"(SELECT __ds_row FROM {_DUP_KEYS})",
        *([f"DELETE FROM {base} b WHERE EXISTS (SELECT 1 FROM {_DUP_KEYS} k WHERE "
           f"k.__ds_mine = 1 AND {sb.key_join_sql(key, 'k', 'b')})"] if with_base else []),
    ]


async def _resolve_duplicates(local: LocalStore, statements: list[str], table: str,
                             key: list[str]) -> None:
    """Run the resolution in one transaction; refuse (changing nothing) keys whose
    rows written here differ among themselves."""
    try:
        async with transaction(local):
            await _run_resolution(local, statements, table, key)
    finally:
        for name in (_DUP, _DUP_KEYS):
            with contextlib.suppress(DucksyncError):
                await local.execute(f"DROP TABLE IF EXISTS {name}")


async def _run_resolution(local: LocalStore, statements: list[str], table: str,
                          key: list[str]) -> None:
    await forget_base_sums(local, table)
    await local.execute(statements[0])
    await local.execute(statements[1])
    n, sample = (await local.fetch_rows(
        f"SELECT count(*), (SELECT string_agg(s, ', ' ORDER BY s) FROM (SELECT "
        f"{key_text_sql(key, 'k')} AS s FROM {_DUP_KEYS} k WHERE __ds_mine > 1 ORDER BY s "
        f"LIMIT {SAMPLE})) FROM {_DUP_KEYS} WHERE __ds_mine > 1"))[0]
    if n:
        cols = ", ".join(key)
        raise InvalidKeyError(
            f"table {table!r} cannot get its primary key ({cols}): {n} key value"
            f"{'s are' if n > 1 else ' is'} held here by rows with different values, "
            f"e.g. {sample}",
            hint=f"keep one row per ({cols}) in the local table (delete or change the "
                 "others) and sync again; nothing was changed or sent, and the rows "
                 "pulled so far are kept")
    for sql in statements[2:]:
        await local.execute(sql)
