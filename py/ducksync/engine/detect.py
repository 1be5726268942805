"""Change detection on both sides, as SQL in the local database.

Local: one pass hashes the table and full-outer-joins it with the base: rows whose
hash differs (or that appear/disappear) are the local changes (``__ds_l``).

Remote: a descent over bucket checksums. The remote sums (key hash, row hash)
per bucket; the local side computes the same sums from the base's *remote* hashes.
Equal buckets are skipped; differing ones are split (``modulus * FANOUT``) until
they are small, then only their (key, hashes) travel (``__ds_rkeys``) and are
compared with the base (``__ds_r``). Cost is O(changed rows), not O(table).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ducksync.engine import sqlbuild as sb
from ducksync.engine.schema import Shape
from ducksync.engine.state import base_table, scalar
from ducksync.engine.store import LocalStore, RemoteStore

__all__ = ["Transfer", "detect_local", "detect_remote"]

FANOUT = 16  # children per differing bucket when descending
LEAF_ROWS = 32  # stop descending when differing buckets hold about this many rows
ROOT_ROWS = 512  # rows per bucket at the first level
MAX_ROOT = 4096


@dataclass(kw_only=True)
class Transfer:
    """Bytes moved and remote round trips, for the report and the benchmarks."""

    sent: int = 0
    received: int = 0
    calls: int = 0
    log: list[str] = field(default_factory=list)


def _coalesced(key: list[str], a: str, b: str) -> str:
    return ", ".join(f"COALESCE({a}.{sb.quote_ident(k)}, {b}.{sb.quote_ident(k)}) AS "
                     f"{sb.quote_ident(k)}" for k in key)


async def detect_local(local: LocalStore, shape: Shape) -> int:
    """Fill temp ``__ds_l(key…, lh_now)``: keys whose local hash differs from the base."""
    t = sb.quote_ident(shape.table)
    await local.execute(
        f"CREATE OR REPLACE TEMP TABLE __ds_l AS SELECT {_coalesced(shape.key, 'c', 'b')}, "
        f"c.__lh AS lh_now FROM (SELECT {sb.cols_sql(shape.key)}, "
        f"{sb.row_hash_sql(shape.columns)} AS __lh FROM {t}) c FULL OUTER JOIN "
        f"{base_table(shape.table)} b ON {sb.key_join_sql(shape.key, 'c', 'b')} "
        f"WHERE c.__lh IS DISTINCT FROM b.__lh")
    return int(scalar(await local.fetch_rows("SELECT count(*) FROM __ds_l")))


async def _diff_buckets(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer,
                        modulus: int, parent_mod: int, parents: list[int]) -> list[tuple[int, int]]:
    ipc = await remote.bucket_checksums(shape.table, shape.key, modulus, parent_mod, parents)
    xfer.calls += 1
    xfer.sent += 8 * len(parents) + 64
    xfer.received += len(ipc)
    await local.ingest_arrow("__ds_rcs", ipc)
    where, params = "", [modulus]
    if parents:
        where = "WHERE __rk % ?::UBIGINT IN (SELECT unnest(?::UBIGINT[]))"
        params += [parent_mod, parents]  # type: ignore[list-item]
    rows = await local.fetch_rows(
        "SELECT COALESCE(r.bucket, l.bucket)::UBIGINT, greatest(COALESCE(r.n, 0), "
        "COALESCE(l.n, 0)) FROM __ds_rcs r FULL OUTER JOIN (SELECT __rk % ?::UBIGINT AS bucket, "
        f"{sb.checksum_sql('__rk', '__rh')} AS checksum, count(*) AS n FROM "
        f"{base_table(shape.table)} {where} GROUP BY ALL) l ON r.bucket = l.bucket "
        "WHERE r.checksum IS DISTINCT FROM l.checksum OR r.n IS DISTINCT FROM l.n ORDER BY 1",
        params)
    return [(int(b), int(n)) for b, n in rows]


async def detect_remote(local: LocalStore, remote: RemoteStore, shape: Shape,
                        xfer: Transfer) -> int:
    """Fill temp ``__ds_r(key…, rh_now, rk_now, in_remote)``: keys changed on the remote.

    ``rh_now``/``rk_now`` are the remote's current hashes (NULL: deleted there).
    """
    base = base_table(shape.table)
    n_base = int(scalar(await local.fetch_rows(f"SELECT count(*) FROM {base}")))
    modulus = 1
    while modulus < MAX_ROOT and n_base / modulus > ROOT_ROWS:
        modulus *= 2
    parent_mod, parents = 1, list[int]()
    while True:
        diff = await _diff_buckets(local, remote, shape, xfer, modulus, parent_mod, parents)
        xfer.log.append(f"modulus {modulus}: {len(diff)} differing buckets")
        if not diff:
            await local.execute(
                f"CREATE OR REPLACE TEMP TABLE __ds_r AS SELECT {sb.cols_sql(shape.key)}, "
                f"__rh AS rh_now, __rk AS rk_now FROM {base} LIMIT 0")
            return 0
        rows = sum(n for _, n in diff)
        examined = len(parents) * FANOUT if parents else modulus
        dense = len(diff) > 0.5 * examined
        if rows / len(diff) <= LEAF_ROWS or dense:
            break
        parent_mod, parents = modulus, [b for b, _ in diff]
        modulus *= FANOUT
    buckets = [] if dense and parent_mod == 1 else [b for b, _ in diff]
    ipc = await remote.bucket_hashes(shape.table, shape.key, modulus, buckets)
    xfer.calls += 1
    xfer.sent += 8 * len(buckets) + 64
    xfer.received += len(ipc)
    await local.ingest_arrow("__ds_rkeys", ipc)
    casts = ", ".join(f"CAST({sb.quote_ident(k)} AS {shape.types[k]}) AS {sb.quote_ident(k)}"
                      for k in shape.key)
    where, params = "", list[object]()
    if buckets:
        where = "WHERE __rk % ?::UBIGINT IN (SELECT unnest(?::UBIGINT[]))"
        params = [modulus, buckets]
    await local.execute(
        f"CREATE OR REPLACE TEMP TABLE __ds_r AS SELECT {_coalesced(shape.key, 'f', 'b')}, "
        f"f.__ds_rh AS rh_now, f.__ds_rk AS rk_now FROM (SELECT {casts}, __ds_rk, __ds_rh FROM "
        f"__ds_rkeys) f FULL OUTER JOIN (SELECT * FROM {base} {where}) b ON "
        f"{sb.key_join_sql(shape.key, 'f', 'b')} WHERE f.__ds_rh IS DISTINCT FROM b.__rh",
        params)
    return int(scalar(await local.fetch_rows("SELECT count(*) FROM __ds_r")))
