"""Change detection on both sides, as SQL in the local database.

Local: one pass hashes the table and full-outer-joins it with the base: rows whose
hash differs (or that appear/disappear) are the local changes (``__ds_l``). A
whole-table aggregate (mixed XOR of row hashes + count) compared with the same
aggregate over the base skips the join when nothing changed; with a declared
watermark column only rows above the cursor are joined, once an aggregate over
the older rows proved them untouched.

Remote: first one whole-table checksum (modulus 1): equal to the base's → no
remote change, done. Else a descent over bucket checksums. The remote sums (key
hash, row hash) per bucket; the local side computes the same sums from the base's
*remote* hashes. Equal buckets are skipped; differing ones are split
(``modulus * FANOUT``) until they hold about ``LEAF_ROWS`` rows, then only their
(key, hashes) travel (``__ds_rkeys``) and are compared with the base (``__ds_r``).
Cost is O(changed rows · log), not O(table). With a watermark, the rows above the
cursor are fetched first (``fetch_rows_after``) and the descent is skipped when
base ⊕ those rows reproduces the remote's whole-table checksum exactly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ducksync.engine import sqlbuild as sb
from ducksync.engine.keys import refuse_bad_keys
from ducksync.engine.schema import Shape
from ducksync.engine.state import base_rh_sql, base_rk_sql, base_table, scalar
from ducksync.engine.store import LocalStore, RemoteStore
from ducksync.faults import reached

__all__ = ["BaseSums", "Transfer", "base_sums", "detect_local", "detect_remote", "empty_local",
           "empty_remote", "ingest_top", "remote_top"]

# Descent tuning (bytes per changed row, see docs/engine.md "Pull"): a checksum row
# costs about as much as a leaf hash row, so a differing bucket of r rows is best
# split in few children per level until a handful of rows remain.
FANOUT = 4  # children per differing bucket when descending
LEAF_ROWS = 4  # stop descending when differing buckets hold about this many rows
ROOT_ROWS = 256  # rows per bucket at the first level
MAX_ROOT = 4096
MAX_LEVELS = 24
# A cloud remote is far away: one more level costs a round trip, which is worth about
# this many bytes (50 ms at 10 Mbit/s). When the hash rows of every differing bucket
# cost less than that, they are fetched at once instead of narrowed down further.
ROUND_TRIP_BYTES = 64 << 10
HASH_ROW_BYTES = 24  # one (key, __ds_rk, __ds_rh) row of a bucket_hashes answer, about

Top = tuple[int, int]  # (checksum, rows) of a whole table; (0, 0) when empty


@dataclass(kw_only=True)
class Transfer:
    """Bytes moved, remote round trips and time per phase, for the report and benches."""

    sent: int = 0
    received: int = 0
    calls: int = 0
    log: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # phase -> ms (debug hook)
    paths: list[str] = field(default_factory=list)  # fast paths taken, in order
    # the base's remote checksum as compared this run, while the base was untouched
    base_top: Top | None = None
    # the base's sums as the last round left it, when known without reading the base:
    # the round did not write it, or a bulk push summed the rows it wrote
    base_sums: BaseSums | None = None

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        reached(name)
        try:
            yield
            reached(name, ".done")
        finally:
            ms = (time.perf_counter() - t0) * 1000
            self.timings[name] = round(self.timings.get(name, 0.0) + ms, 3)


@dataclass(frozen=True)
class BaseSums:
    """A base's whole-table sums: what detection compares each side with.

    ``x``/``n``: the mixed XOR of the *local* row hashes and the row count, compared
    with the same aggregate over the local table; ``total``: the checksum of the
    *remote* hashes, compared with the remote's own (:func:`base_top`). Kept in
    ``ducksync.tables`` between syncs (``state.Stored``): a no-op sync then reads
    only the local table, not the base as well.
    """

    n: int
    x: int | None  # NULL for an empty base
    total: int

    @property
    def top(self) -> Top:
        return (self.total, self.n) if self.n else (0, 0)

    @classmethod
    def of(cls, row: tuple[int, int | None, int] | None) -> BaseSums | None:
        return None if row is None else cls(*row)

    def row(self) -> tuple[int, int | None, int]:
        return (self.n, self.x, self.total)


def _remote_hashes(table: str, key: list[str]) -> str:
    """The base as ``(__lh, rk, rh)``: its remote hashes as read (see
    :func:`~ducksync.engine.state.base_rk_sql`), for the checksums that repeat them."""
    return (f"(SELECT __lh, {base_rk_sql(key)} AS rk, {base_rh_sql()} AS rh FROM "
            f"{base_table(table)})")


def _base_sums_sql(table: str, key: list[str]) -> str:
    return (f"SELECT count(*), bit_xor({sb.mix_sql('__lh')}), "
            f"COALESCE({sb.checksum_sql('rk', 'rh')}, 0) FROM {_remote_hashes(table, key)}")


async def base_sums(local: LocalStore, shape: Shape) -> BaseSums:
    """The base's sums, computed (one pass over the base)."""
    n, x, total = (await local.fetch_rows(_base_sums_sql(shape.table, shape.key)))[0]
    return BaseSums(int(n), None if x is None else int(x), int(total))


def _coalesced(key: list[str], a: str, b: str) -> str:
    return ", ".join(f"COALESCE({a}.{sb.quote_ident(k)}, {b}.{sb.quote_ident(k)}) AS "
                     f"{sb.quote_ident(k)}" for k in key)


def _wm_filter(shape: Shape, watermark: str, alias: str = "") -> str:
    """``wm > CAST(? AS type)`` on the local table (the cursor is a bound parameter)."""
    prefix = f"{alias}." if alias else ""
    return (f"{prefix}{sb.quote_ident(watermark)} > CAST(? AS "
            f"{sb.check_type(shape.types[watermark])})")


async def detect_local(local: LocalStore, shape: Shape, xfer: Transfer | None = None, *,
                       watermark: str | None = None, cursor: str | None = None,
                       unchanged: bool = False, hash_once: bool = False,
                       sums: BaseSums | None = None) -> tuple[int, BaseSums | None]:
    """Fill temp ``__ds_l(key…, lh_now)``: keys whose local hash differs from the base.

    When the count is 0, ``__ds_l`` may be missing or left from an earlier run: a
    caller that reads it then creates it with :func:`empty_local` (a no-op sync needs
    neither table, and each statement is a round trip in the browser).
    ``sums``: the base's, when known (kept since the last sync): the whole-table
    comparison then reads the local table only. Returns the count and the base's
    sums when known or read on the way (None otherwise): one pass over the base at most.
    ``unchanged``: the store's write token proves that nothing but the engine wrote
    since the table last equalled its base (see ``store.WriteTracked``): no hashing.
    ``hash_once``: hash the table once into temp ``__ds_lcur``, which the whole-table
    check and the join both read, instead of on the fly for each (DuckDB-WASM, 1M rows,
    1k changed: 610-870 → 290-500 ms; the check alone costs the same either way there).
    Natively the check alone is cheaper (37-45 vs 47-53 ms) and an unchanged table is
    the common case (a CLI sync cannot know), so there the table is hashed on the fly.
    """
    t, base = sb.quote_ident(shape.table), base_table(shape.table)
    keys, lh = sb.cols_sql(shape.key), sb.row_hash_sql(shape.types)
    hashed = f"(SELECT {keys}, {lh} AS __lh FROM {t})"  # the table, hashed on the fly
    if unchanged:
        if xfer is not None:
            xfer.paths.append("local-unchanged-since-sync")
        return 0, sums
    if watermark is not None and cursor is not None:
        # Rows at or below the cursor must be exactly the base minus the keys above it.
        fresh = _wm_filter(shape, watermark)
        x_old, n_old, x_base, n_base = (await local.fetch_rows(
            f"SELECT a.x, a.n, b.x, b.n FROM (SELECT bit_xor({sb.mix_sql('h')}) AS x, count(*) "
            f"AS n FROM (SELECT {lh} AS h FROM {t} WHERE NOT COALESCE({fresh}, false))) a, "
            f"(SELECT bit_xor({sb.mix_sql('b.__lh')}) AS x, count(*) AS n FROM {base} b "
            f"ANTI JOIN (SELECT {keys} FROM {t} WHERE {fresh}) f ON "
            f"{sb.key_join_sql(shape.key, 'b', 'f')}) b", [cursor, cursor]))[0]
        if (x_old, n_old) == (x_base, n_base):
            if xfer is not None:
                xfer.paths.append("append-local")
            await local.execute(
                f"CREATE OR REPLACE TEMP TABLE __ds_l AS SELECT {sb.cols_sql(shape.key, 'c')}, "
                f"c.__lh AS lh_now FROM (SELECT {keys}, {lh} AS __lh FROM {t} WHERE {fresh}) c "
                f"LEFT JOIN {base} b ON {sb.key_join_sql(shape.key, 'c', 'b')} "
                "WHERE c.__lh IS DISTINCT FROM b.__lh", [cursor])
            return int(scalar(await local.fetch_rows("SELECT count(*) FROM __ds_l"))), sums
    else:
        if hash_once:
            await local.execute(f"CREATE OR REPLACE TEMP TABLE __ds_lcur AS SELECT {keys}, "
                                f"{lh} AS __lh FROM {t}")
            hashed = "__ds_lcur"
        now = f"SELECT bit_xor({sb.mix_sql('__lh')}) AS x, count(*) AS n FROM {hashed}"
        if sums is not None:
            x_now, n_now = (await local.fetch_rows(now))[0]
        else:
            x_now, n_now, n_base, x_base, total = (await local.fetch_rows(
                f"SELECT a.x, a.n, b.* FROM ({now}) a, "
                f"({_base_sums_sql(shape.table, shape.key)}) b"))[0]
            sums = BaseSums(int(n_base), None if x_base is None else int(x_base), int(total))
        if (x_now, n_now) == (sums.x, sums.n):
            if xfer is not None:
                xfer.paths.append("local-unchanged")
            if hashed == "__ds_lcur":
                await local.execute("DROP TABLE __ds_lcur")
            return 0, sums
    await local.execute(
        f"CREATE OR REPLACE TEMP TABLE __ds_l AS SELECT {_coalesced(shape.key, 'c', 'b')}, "
        f"c.__lh AS lh_now FROM {hashed} c FULL OUTER JOIN "
        f"{base} b ON {sb.key_join_sql(shape.key, 'c', 'b')} "
        f"WHERE c.__lh IS DISTINCT FROM b.__lh")
    if hashed == "__ds_lcur":
        await local.execute("DROP TABLE __ds_lcur")
    return int(scalar(await local.fetch_rows("SELECT count(*) FROM __ds_l"))), sums


async def remote_top(local: LocalStore, remote: RemoteStore, shape: Shape,
                     xfer: Transfer) -> Top:
    """The remote's whole-table checksum and row count (one small call)."""
    return await ingest_top(local, xfer,
                            await remote.bucket_checksums(shape.table, shape.key, 1, 1, []))


async def ingest_top(local: LocalStore, xfer: Transfer, ipc: bytes) -> Top:
    """Read the answer of ``bucket_checksums(modulus=1)`` (see :func:`remote_top`)."""
    xfer.calls += 1
    xfer.sent += 64
    xfer.received += len(ipc)
    await local.ingest_arrow("__ds_rcs", ipc)
    rows = await local.fetch_rows("SELECT checksum::UBIGINT, n::BIGINT FROM __ds_rcs")
    return (int(rows[0][0]), int(rows[0][1])) if rows and rows[0][1] else (0, 0)


async def base_top(local: LocalStore, shape: Shape) -> Top:
    """The same checksum, computed from the base's stored remote hashes."""
    rows = await local.fetch_rows(
        f"SELECT COALESCE({sb.checksum_sql('rk', 'rh')}, 0), count(*) FROM "
        f"{_remote_hashes(shape.table, shape.key)}")
    return (int(rows[0][0]), int(rows[0][1])) if rows[0][1] else (0, 0)


async def _diff_buckets(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer,
                        modulus: int, parent_mod: int, parents: list[int]) -> list[tuple[int, int]]:
    ipc = await remote.bucket_checksums(shape.table, shape.key, modulus, parent_mod, parents)
    xfer.calls += 1
    xfer.sent += 8 * len(parents) + 64
    xfer.received += len(ipc)
    await local.ingest_arrow("__ds_rcs", ipc)
    where, params = "", [modulus]
    if parents:
        where = f"WHERE {sb.in_buckets_sql('rk')}"
        params += [parent_mod, sb.bucket_list(parents)]  # type: ignore[list-item]
    rows = await local.fetch_rows(
        "SELECT COALESCE(r.bucket, l.bucket)::UBIGINT, greatest(COALESCE(r.n, 0), "
        "COALESCE(l.n, 0)) FROM (SELECT bucket::UBIGINT AS bucket, checksum::UBIGINT AS "
        "checksum, n::BIGINT AS n FROM __ds_rcs) r FULL OUTER JOIN (SELECT rk % ?::UBIGINT "
        f"AS bucket, {sb.checksum_sql('rk', 'rh')} AS checksum, count(*) AS n FROM "
        f"{_remote_hashes(shape.table, shape.key)} {where} GROUP BY ALL) l "
        "ON r.bucket = l.bucket "
        "WHERE r.checksum IS DISTINCT FROM l.checksum OR r.n IS DISTINCT FROM l.n ORDER BY 1",
        params)
    return [(int(b), int(n)) for b, n in rows]


async def empty_local(local: LocalStore, shape: Shape) -> None:
    """An empty ``__ds_l`` (see :func:`detect_local`)."""
    await local.execute(
        f"CREATE OR REPLACE TEMP TABLE __ds_l AS SELECT {sb.cols_sql(shape.key)}, "
        f"__lh AS lh_now FROM {base_table(shape.table)} LIMIT 0")


async def empty_remote(local: LocalStore, shape: Shape) -> None:
    """An empty ``__ds_r`` (see :func:`detect_remote`)."""
    await local.execute(
        f"CREATE OR REPLACE TEMP TABLE __ds_r AS SELECT {sb.cols_sql(shape.key)}, "
        f"{base_rh_sql()} AS rh_now, {base_rk_sql(shape.key)} AS rk_now FROM "
        f"{base_table(shape.table)} LIMIT 0")


async def _append_only(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer,
                       top: Top, watermark: str, cursor: str | None,
                       batch_rows: int) -> bool:
    """Rows above the cursor, proven to be the remote's only changes; else False.

    Proof: base (minus the fetched keys) plus the fetched rows must reproduce the
    remote's whole-table checksum and count. Any other update or delete (or a row
    that arrived below the cursor) breaks the equality and the caller runs the
    full descent: the watermark is a speed hint, never trusted for correctness.
    Leaves ``__ds_rrows`` (the fetched rows) and ``__ds_r`` on success.
    """
    base, first = base_table(shape.table), True
    async for chunk in remote.fetch_rows_after(shape.table, watermark, cursor,
                                               batch_rows=batch_rows):
        xfer.received += len(chunk)
        await local.ingest_arrow("__ds_rrows", chunk, append=not first)
        first = False
    xfer.calls += 1
    xfer.sent += 64 + len(cursor or "")
    if first:
        return False
    if shape.remote_pk != tuple(shape.key):  # a declared key is unique and non-NULL
        await refuse_bad_keys(local, shape.table, shape.key, "__ds_rrows", side="remote")
    casts = ", ".join(f"CAST(f.{sb.quote_ident(k)} AS {shape.types[k]}) AS {sb.quote_ident(k)}"
                      for k in shape.key)
    await local.execute(
        f"CREATE OR REPLACE TEMP TABLE __ds_rfresh AS SELECT {casts}, f.__ds_rk::UBIGINT AS "
        "__ds_rk, f.__ds_rh::UBIGINT AS __ds_rh FROM __ds_rrows f")
    rows = await local.fetch_rows(
        f"SELECT COALESCE({sb.checksum_sql('rk', 'rh')}, 0), count(*) FROM (SELECT "
        f"{base_rk_sql(shape.key, 'b')} AS rk, {base_rh_sql('b')} AS rh FROM {base} b "
        "ANTI JOIN __ds_rfresh f ON "
        f"{sb.key_join_sql(shape.key, 'b', 'f')} UNION ALL SELECT __ds_rk, __ds_rh FROM "
        "__ds_rfresh)")
    expected = (int(rows[0][0]), int(rows[0][1])) if rows[0][1] else (0, 0)
    if expected != top:
        xfer.paths.append("append-fallback")
        return False
    xfer.paths.append("append-pull")
    await local.execute(
        f"CREATE OR REPLACE TEMP TABLE __ds_r AS SELECT {sb.cols_sql(shape.key, 'f')}, "
        f"f.__ds_rh AS rh_now, f.__ds_rk AS rk_now FROM __ds_rfresh f LEFT JOIN {base} b ON "
        f"{sb.key_join_sql(shape.key, 'f', 'b')} WHERE f.__ds_rh IS DISTINCT FROM "
        f"{base_rh_sql('b')}")
    return True


async def detect_remote(local: LocalStore, remote: RemoteStore, shape: Shape,
                        xfer: Transfer, *, top: Top | None = None,
                        watermark: str | None = None, cursor: str | None = None,
                        batch_rows: int = 100_000,
                        base_sum: Top | None = None) -> tuple[int, bool]:
    """Fill temp ``__ds_r(key…, rh_now, rk_now)``: keys changed on the remote.

    As with :func:`detect_local`, a count of 0 leaves ``__ds_r`` as it was: create it
    with :func:`empty_remote` to read it.

    ``rh_now``/``rk_now`` are the remote's current hashes (NULL: deleted there).
    Returns (changed keys, prefetched): prefetched means the changed rows are
    already in ``__ds_rrows`` (append-only path). ``base_sum``: :func:`base_top`, when
    the caller computed it already (while waiting for the remote's checksum).
    """
    base = base_table(shape.table)
    if top is None:
        top = await remote_top(local, remote, shape, xfer)
    if top == (base_sum if base_sum is not None else await base_top(local, shape)):
        xfer.paths.append("remote-unchanged")
        return 0, False
    if watermark is not None and await _append_only(local, remote, shape, xfer, top,
                                                    watermark, cursor, batch_rows):
        return int(scalar(await local.fetch_rows("SELECT count(*) FROM __ds_r"))), True
    n_base = int(scalar(await local.fetch_rows(f"SELECT count(*) FROM {base}")))
    n = max(n_base, top[1])
    modulus = 1
    while modulus < MAX_ROOT and n / modulus > ROOT_ROWS:
        modulus *= 2
    parent_mod, parents = 1, list[int]()
    # A small table's hashes are cheaper than a checksum round trip: no descent at all.
    dense = n * HASH_ROW_BYTES <= ROUND_TRIP_BYTES
    diff: list[tuple[int, int]] = []
    for _ in range(0 if dense else MAX_LEVELS):
        diff = await _diff_buckets(local, remote, shape, xfer, modulus, parent_mod, parents)
        xfer.log.append(f"modulus {modulus}: {len(diff)} differing buckets")
        if not diff:
            return 0, False
        rows = sum(n for _, n in diff)
        examined = len(parents) * FANOUT if parents else modulus
        # Mostly differing buckets have mostly differing children: another level would
        # save few bytes for one more round trip.
        dense = len(diff) > 0.75 * examined
        if rows / len(diff) <= LEAF_ROWS or dense or rows * HASH_ROW_BYTES <= ROUND_TRIP_BYTES:
            break
        parent_mod, parents = modulus, [b for b, _ in diff]
        modulus *= FANOUT
    buckets = [] if dense and parent_mod == 1 else [b for b, _ in diff]
    ipc = await remote.bucket_hashes(shape.table, shape.key, modulus, buckets)
    xfer.calls += 1
    xfer.sent += 8 * len(buckets) + 64
    xfer.received += len(ipc)
    await local.ingest_arrow("__ds_rkeys", ipc)
    if shape.remote_pk != tuple(shape.key):  # a declared key is unique and non-NULL
        await refuse_bad_keys(local, shape.table, shape.key, "__ds_rkeys", side="remote")
    casts = ", ".join(f"CAST({sb.quote_ident(k)} AS {shape.types[k]}) AS {sb.quote_ident(k)}"
                      for k in shape.key)
    where, params = "", list[object]()
    if buckets:
        where = f"WHERE {sb.in_buckets_sql(base_rk_sql(shape.key))}"
        params = [modulus, sb.bucket_list(buckets)]
    await local.execute(
        f"CREATE OR REPLACE TEMP TABLE __ds_r AS SELECT {_coalesced(shape.key, 'f', 'b')}, "
        f"f.__ds_rh AS rh_now, f.__ds_rk AS rk_now FROM (SELECT {casts}, __ds_rk::UBIGINT AS "
        f"__ds_rk, __ds_rh::UBIGINT AS __ds_rh FROM __ds_rkeys) f FULL OUTER JOIN (SELECT * FROM "
        f"{base} {where}) b ON {sb.key_join_sql(shape.key, 'f', 'b')} "
        f"WHERE f.__ds_rh IS DISTINCT FROM {base_rh_sql('b')}", params)
    return int(scalar(await local.fetch_rows("SELECT count(*) FROM __ds_r"))), False
