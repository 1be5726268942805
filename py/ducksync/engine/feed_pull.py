"""The change feed's fast pull: fetch the rows an announcement named, prove that is all.

A device that hears "table T changed, these keys were written" (docs/change-feed.md)
could run the general round: survey, descent (a round trip per level), fetch, plan,
policy, apply: about 45 local statements and three round trips in the page. When this
device did not write T since its last sync proved T equal to its base (the store's
write token, :class:`ducksync.engine.store.WriteTracked`), every remote change is a
pull and there is nothing to merge, so this path asks the remote for the named keys'
rows (one ``fetch_rows``) and writes them in one short transaction.

The keys are a hint, never trusted: base minus the named keys plus the rows that came
back must reproduce the remote's whole-table checksum and row count (from the run's
survey), exactly as the append-only path proves its rows (docs/engine.md). A named key
that did not come back was deleted there. Whenever something cannot be proved it returns
None and the caller runs the general round, which decides as before:

* the proof fails: another writer's commit the hint did not name, a gap in the versions,
  a hint for an older base (a sync of this table failed or was skipped);
* the deletions would trip the mass-delete guard (the general round stops the table and
  says so);
* conflicts or rejected rows wait for this table (the plan owns them);
* a named key's local row no longer equals the base (the page wrote it meanwhile): a
  conflict the plan must decide; checked inside the transaction that writes.
"""

from __future__ import annotations

from typing import Final

from ducksync.engine import sqlbuild as sb
from ducksync.engine.detect import BaseSums, Top, Transfer
from ducksync.engine.guard import DeleteLimit
from ducksync.engine.schema import Shape
from ducksync.engine.state import base_table
from ducksync.engine.store import LocalStore, RemoteStore
from ducksync.errors import DucksyncError

__all__ = ["LOCAL_MOVED", "MAX_KEYS", "feed_pull"]

# More keys than this is a bulk change, not a latency question: the general round.
MAX_KEYS: Final = 10_000
_KEYS: Final = "__ds_fk"  # the named keys, cast to the local key type
_ROWS: Final = "__ds_frows"  # what the remote answered for them
# Returned when a named key's local row no longer equals its base: the write token
# missed a write, so the general round must hash the local table after all.
LOCAL_MOVED: Final = -1


async def feed_pull(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer, *,
                    keys: list[str], top: Top, sums: BaseSums,
                    limit: DeleteLimit | None) -> int | None:
    """Pull the rows of ``keys`` (their key values as text) and prove they are the
    remote's only changes since the base; the rows changed, or None (see the module
    docstring: the caller runs the general round). ``top``: the remote's whole-table
    checksum from this run's survey; ``sums``: the base's, as the last sync left them.
    :data:`LOCAL_MOVED`: a named key's local row moved (the caller hashes the table).
    ``limit``: the mass-delete guard's (None: deletions allowed)."""
    if (len(shape.key) != 1 or not keys or len(keys) > MAX_KEYS
            or shape.remote_pk != tuple(shape.key)):  # a declared key: unique, non-NULL
        return None
    key = shape.key[0]
    k, t, base = sb.quote_ident(key), sb.quote_ident(shape.table), base_table(shape.table)
    try:
        await local.execute(
            f"CREATE OR REPLACE TEMP TABLE {_KEYS} AS SELECT DISTINCT TRY_CAST(v AS "
            f"{sb.check_type(shape.types[key])}) AS {k} FROM unnest(?::VARCHAR[]) u(v) "
            "WHERE TRY_CAST(v AS " + sb.check_type(shape.types[key]) + ") IS NOT NULL",
            [list(keys)])
        chunks = [c async for c in local.export_arrow(
            f"SELECT {k} FROM {_KEYS}", batch_rows=MAX_KEYS, batch_bytes=48 << 20)]
    except DucksyncError:
        return None
    first = True
    for keys_ipc in chunks:
        xfer.calls += 1
        xfer.sent += len(keys_ipc)
        async for rows in remote.fetch_rows(shape.table, shape.key, keys_ipc,
                                            batch_rows=MAX_KEYS):
            xfer.received += len(rows)
            await local.ingest_arrow(_ROWS, rows, append=not first)
            first = False
    src = _ROWS if not first else (f"(SELECT *, NULL::UBIGINT AS __ds_rk, NULL::UBIGINT AS "
                                   f"__ds_rh FROM {t} LIMIT 0)")
    casts = ", ".join(f"CAST({sb.quote_ident(c)} AS {shape.types[c]}) AS {sb.quote_ident(c)}"
                      for c in shape.columns)
    # The fetched rows in local types, with the local hash of their values (the base's __lh).
    await local.execute(
        f"CREATE OR REPLACE TEMP TABLE __ds_frt AS SELECT *, {sb.row_hash_sql(shape.types)} "
        f"AS __lh FROM (SELECT {casts}, __ds_rk::UBIGINT AS __ds_rk, __ds_rh::UBIGINT AS "
        f"__ds_rh FROM {src})")
    on_fb = sb.key_join_sql(shape.key, "f", "b")
    proof = (await local.fetch_rows(
        # the base with the named keys replaced by what the remote holds for them now
        f"SELECT (SELECT COALESCE({sb.checksum_sql('rk', 'rh')}, 0) FROM (SELECT b.__rk AS rk, "
        f"b.__rh AS rh FROM {base} b ANTI JOIN {_KEYS} f ON {on_fb} UNION ALL SELECT "
        "__ds_rk, __ds_rh FROM __ds_frt)), "
        f"(SELECT count(*) FROM {base} b ANTI JOIN {_KEYS} f ON {on_fb}) + "
        "(SELECT count(*) FROM __ds_frt), "
        # deletions: named keys the base holds and the remote no longer does
        f"(SELECT count(*) FROM {base} b SEMI JOIN {_KEYS} f ON {on_fb} ANTI JOIN __ds_frt r "
        f"ON {sb.key_join_sql(shape.key, 'b', 'r')}), "
        "(SELECT count(*) FROM ducksync.conflicts WHERE table_name = ?) + "
        "(SELECT count(*) FROM ducksync.rejections WHERE table_name = ?)",
        [shape.table, shape.table]))[0]
    checksum, n, deleted, waiting = (int(v or 0) for v in proof)
    expected = (checksum, n) if n else (0, 0)
    if expected != top or waiting:
        xfer.paths.append("feed-fallback")
        return None
    if limit is not None and deleted and deleted >= limit.min_rows \
            and deleted > limit.share * sums.n:
        xfer.paths.append("feed-fallback")  # the general round stops it and says why
        return None
    return await _write(local, shape, xfer, k, t, base)


async def _write(local: LocalStore, shape: Shape, xfer: Transfer, k: str, t: str,
                 base: str) -> int:
    """One transaction: the changed rows and their base rows; :data:`LOCAL_MOVED`
    (nothing written) when a named key's local row no longer equals its base."""
    # Materialised before the base is written (the statements below read it after).
    await local.execute(
        f"CREATE OR REPLACE TEMP TABLE __ds_fchg AS SELECT f.{k} FROM {_KEYS} f LEFT JOIN "
        f"__ds_frt r ON r.{k} = f.{k} LEFT JOIN {base} b ON b.{k} = f.{k} "
        "WHERE r.__ds_rh IS DISTINCT FROM b.__rh")
    changed = "(SELECT * FROM __ds_fchg)"
    lh = sb.row_hash_sql(shape.types)
    await local.execute("BEGIN TRANSACTION")
    try:
        moved = (await local.fetch_rows(
            f"SELECT (SELECT count(*) FROM {_KEYS} f LEFT JOIN (SELECT {k}, {lh} AS __lh "
            f"FROM {t} WHERE {k} IN (SELECT {k} FROM {_KEYS})) x ON x.{k} = f.{k} "
            f"LEFT JOIN {base} b ON b.{k} = f.{k} "
            "WHERE x.__lh IS DISTINCT FROM b.__lh), (SELECT count(*) FROM __ds_fchg)"))[0]
        if moved[0] or not moved[1]:
            await local.execute("ROLLBACK")
            xfer.paths.append("feed-fallback" if moved[0] else "feed-pull")
            return LOCAL_MOVED if moved[0] else 0
        await local.execute("UPDATE ducksync.tables SET base_n = NULL, base_x = NULL, "
                            "base_sum = NULL WHERE name = ?", [shape.table])
        await local.execute(f"DELETE FROM {t} WHERE {k} IN {changed}")
        await local.execute(
            f"INSERT INTO {t} ({sb.cols_sql(shape.columns)}) SELECT "
            f"{sb.cols_sql(shape.columns, 'r')} FROM __ds_frt r WHERE r.{k} IN {changed}")
        await local.execute(f"DELETE FROM {base} WHERE {k} IN {changed}")
        await local.execute(f"INSERT INTO {base} SELECT r.{k}, r.__lh, r.__ds_rh, r.__ds_rk "
                            f"FROM __ds_frt r WHERE r.{k} IN {changed}")
        await local.execute("COMMIT")
    except BaseException:
        await local.execute("ROLLBACK")
        raise
    xfer.paths.append("feed-pull")
    return int(moved[1])
