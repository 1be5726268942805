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

from collections.abc import Awaitable, Callable
from typing import Final

from ducksync.engine import sqlbuild as sb
from ducksync.engine.detect import BaseSums, Top, Transfer
from ducksync.engine.guard import DeleteLimit
from ducksync.engine.names import FEED_JOINED as _JOINED  # temp tables: see names.py
from ducksync.engine.names import FEED_KEYS as _KEYS
from ducksync.engine.names import FEED_ROWS as _ROWS
from ducksync.engine.schema import Shape
from ducksync.engine.state import base_rh_sql, base_rk_sql, base_table, stored_hashes_sql
from ducksync.engine.store import LocalStore, RemoteStore
from ducksync.engine.transaction import after_failed_script
from ducksync.errors import DucksyncError

__all__ = ["LOCAL_MOVED", "MAX_KEYS", "Fetched", "feed_pull", "prefetch"]

# per table: the bytes of keys sent and the row chunks (IPC) the remote answered
Fetched = dict[str, tuple[int, list[bytes]]]
# More keys than this is a bulk change, not a latency question: the general round.
MAX_KEYS: Final = 10_000
_MOVED_MARK: Final = "ducksync:feed-local-moved"  # the write's guard (see _write)
# Returned when a named key's local row no longer equals its base: the write token
# missed a write, so the general round must hash the local table after all.
LOCAL_MOVED: Final = -1


async def prefetch(local: LocalStore, remote: RemoteStore,
                   hints: dict[str, list[str]]) -> Callable[[], Awaitable[Fetched]]:
    """Start fetching the hinted keys' rows, to run beside the run's survey (one round
    trip instead of two). The keys travel as text (the remote casts them to the table's
    key type), named as this device last synced the table; a table it never synced, a
    composite key or too many keys are left out. Returns the awaitable of what came
    back per table (a table whose fetch failed is left out: the fast path fetches it
    again, or the general round runs)."""
    wanted = {t: k for t, k in hints.items() if k and len(k) <= MAX_KEYS}
    if not wanted:
        return _nothing
    try:
        stored = {str(n): list(key) for n, key in await local.fetch_rows(
            "SELECT name, key_cols FROM ducksync.tables WHERE name IN "
            "(SELECT unnest(?::VARCHAR[]))", [sorted(wanted)]) if len(key) == 1}
        ipcs = {t: (stored[t], [c async for c in local.export_arrow(
            f"SELECT DISTINCT unnest(?::VARCHAR[]) AS {sb.quote_ident(stored[t][0])}",
            [wanted[t]], batch_rows=MAX_KEYS, batch_bytes=48 << 20)])
            for t in sorted(stored)}
    except DucksyncError:  # no sync state yet (a device that never synced)
        return _nothing

    async def fetch() -> Fetched:
        out: Fetched = {}
        for t, (key, chunks) in ipcs.items():
            try:
                out[t] = await _fetch(remote, t, key, chunks)
            except DucksyncError:
                continue
        return out

    return fetch


async def _nothing() -> Fetched:
    return {}


async def _fetch(remote: RemoteStore, table: str, key: list[str],
                 chunks: list[bytes]) -> tuple[int, list[bytes]]:
    """The rows of the keys in ``chunks`` (IPC; in the page, JS arrays left as they are)."""
    rows: list[bytes] = []
    for ipc in chunks:
        rows += [c async for c in remote.fetch_rows(table, key, ipc, batch_rows=MAX_KEYS)]
    return sum(len(c) for c in chunks), rows


async def feed_pull(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer, *,
                    keys: list[str], top: Top, sums: BaseSums,
                    limit: DeleteLimit | None,
                    fetched: tuple[int, list[bytes]] | None = None) -> int | None:
    """Pull the rows of ``keys`` (their key values as text) and prove they are the
    remote's only changes since the base; the rows changed, or None (see the module
    docstring: the caller runs the general round). ``top``: the remote's whole-table
    checksum from this run's survey; ``sums``: the base's, as the last sync left them.
    :data:`LOCAL_MOVED`: a named key's local row moved (the caller hashes the table).
    ``limit``: the mass-delete guard's (None: deletions allowed). ``fetched``: the keys
    sent and the rows :func:`prefetch` got for them (else they are fetched here)."""
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
        if fetched is None or not fetched[1]:
            fetched = await _fetch(remote, shape.table, shape.key, [
                c async for c in local.export_arrow(f"SELECT {k} FROM {_KEYS}",
                                                    batch_rows=MAX_KEYS, batch_bytes=48 << 20)])
    except DucksyncError:
        return None
    xfer.calls += 1
    xfer.sent += fetched[0]
    first = True
    for rows in fetched[1]:
        xfer.received += len(rows)
        await local.ingest_arrow(_ROWS, rows, append=not first)
        first = False
    src = _ROWS if not first else (f"(SELECT *, NULL::UBIGINT AS __ds_rk, NULL::UBIGINT AS "
                                   f"__ds_rh FROM {t} LIMIT 0)")
    casts = ", ".join(f"CAST(x.{sb.quote_ident(c)} AS {shape.types[c]}) AS {sb.quote_ident(c)}"
                      for c in shape.columns)
    # Per named key: the remote's row now (local types, its local hash __lh; NULL
    # columns: deleted there) and the base's hashes (NULL: not in the base).
    await local.execute(
        f"CREATE OR REPLACE TEMP TABLE {_JOINED} AS SELECT r.* EXCLUDE ({k}), f.{k}, "
        f"b.__lh AS __b_lh, {base_rk_sql(shape.key, 'b')} AS __b_rk, {base_rh_sql('b')} AS "
        f"__b_rh, r.__ds_rh IS DISTINCT FROM {base_rh_sql('b')} AS __moved FROM {_KEYS} f "
        "LEFT JOIN (SELECT *, "
        f"{sb.row_hash_sql(shape.types)} AS __lh FROM (SELECT {casts}, x.__ds_rk::UBIGINT "
        f"AS __ds_rk, x.__ds_rh::UBIGINT AS __ds_rh FROM {src} x)) r ON r.{k} = f.{k} "
        f"LEFT JOIN {base} b ON b.{k} = f.{k}")
    # The proof, from the named keys alone (the checksum is an XOR over rows, so the
    # base's rows of those keys come out and the remote's go in); and the base's new
    # local sum the same way, so the next sync needs no pass over the base.
    proof = (await local.fetch_rows(
        f"SELECT (SELECT COALESCE({sb.checksum_sql('rk', 'rh')}, 0) FROM (SELECT __b_rk AS rk, "
        f"__b_rh AS rh FROM {_JOINED} WHERE __b_rh IS NOT NULL UNION ALL SELECT __ds_rk, "
        f"__ds_rh FROM {_JOINED} WHERE __ds_rh IS NOT NULL)), "
        "count(__b_rh), count(__ds_rh), count(*) FILTER (WHERE __moved AND __ds_rh IS NULL), "
        "count(*) FILTER (WHERE __moved), "
        f"(SELECT COALESCE(bit_xor({sb.mix_sql('lh')}), 0) FROM (SELECT __b_lh AS lh FROM "
        f"{_JOINED} WHERE __moved AND __b_lh IS NOT NULL UNION ALL SELECT __lh FROM {_JOINED} "
        "WHERE __moved AND __ds_rh IS NOT NULL)), "
        "(SELECT count(*) FROM ducksync.conflicts WHERE table_name = ?) + "
        f"(SELECT count(*) FROM ducksync.rejections WHERE table_name = ?) FROM {_JOINED}",
        [shape.table, shape.table]))[0]
    delta, n_out, n_in, deleted, moved, x_delta, waiting = (int(v or 0) for v in proof)
    n = sums.n - n_out + n_in
    expected = (sums.total ^ delta, n) if n else (0, 0)
    if expected != top or waiting:
        xfer.paths.append("feed-fallback")
        return None
    if limit is not None and deleted and deleted >= limit.min_rows \
            and deleted > limit.share * sums.n:
        xfer.paths.append("feed-fallback")  # the general round stops it and says why
        return None
    after = BaseSums(n, ((sums.x or 0) ^ x_delta) if n else None, sums.total ^ delta)
    return await _write(local, shape, xfer, k, t, base, moved, after)


async def _write(local: LocalStore, shape: Shape, xfer: Transfer, k: str, t: str,
                 base: str, moved: int, after: BaseSums) -> int:
    """One transaction, sent as one script (each statement is a hop to DuckDB's worker
    in the page): the changed rows, their base rows and the base's sums (``after``);
    :data:`LOCAL_MOVED` (nothing written) when a named key's local row no longer equals
    its base, checked first inside the transaction (a guard: ``error()`` aborts it).
    Sets ``xfer.base_sums``."""
    if not moved:
        xfer.paths.append("feed-pull")
        return 0
    changed = f"(SELECT {k} FROM {_JOINED} WHERE __moved)"
    lh = sb.row_hash_sql(shape.types)
    x = "NULL" if after.x is None else str(int(after.x))
    name = "'" + shape.table.replace("'", "''") + "'"
    script = ";\n".join([
        "BEGIN TRANSACTION",
        f"SELECT CASE WHEN count(*) > 0 THEN error('{_MOVED_MARK}') END FROM {_JOINED} f "
        f"LEFT JOIN (SELECT {k}, {lh} AS __lh FROM {t} WHERE {k} IN (SELECT {k} FROM "
        f"{_KEYS})) x ON x.{k} = f.{k} WHERE x.__lh IS DISTINCT FROM f.__b_lh",
        f"UPDATE ducksync.tables SET base_n = {int(after.n)}, base_x = {x}, "
        f"base_sum = {int(after.total)} WHERE name = {name}",
        f"DELETE FROM {t} WHERE {k} IN {changed}",
        f"INSERT INTO {t} ({sb.cols_sql(shape.columns)}) SELECT {sb.cols_sql(shape.columns)} "
        f"FROM {_JOINED} WHERE __moved AND __ds_rh IS NOT NULL",
        f"DELETE FROM {base} WHERE {k} IN {changed}",
        f"INSERT INTO {base} SELECT {k}, "
        f"{stored_hashes_sql(shape.key, '__lh', '__ds_rh', '__ds_rk')} FROM {_JOINED} "
        "WHERE __moved AND __ds_rh IS NOT NULL",
        "COMMIT"])
    try:
        await local.execute(script)
    except BaseException as exc:
        await after_failed_script(local, exc)
        if isinstance(exc, DucksyncError) and _MOVED_MARK in str(exc):
            xfer.paths.append("feed-fallback")
            return LOCAL_MOVED
        raise
    xfer.paths.append("feed-pull")
    xfer.base_sums = after
    return moved
