"""Push: the plan's ``push`` rows leave as Arrow IPC batches, applied exactly once.

Per batch: (1) its id is committed to ``ducksync.outbox``; (2) the remote applies
it in one transaction with a ledger entry and compare-and-swap; (3) the result
moves the base and clears the outbox entry in one local transaction; (4) the
remote may forget the stored results (one ack per run). A crash between any two steps leaves
an outbox entry that :func:`recover` settles on the next sync: the ledger either
has the result (record it) or the batch never committed (forget it).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import uuid

from ducksync.engine import codec
from ducksync.engine import sqlbuild as sb
from ducksync.engine.detect import Transfer
from ducksync.engine.schema import Shape
from ducksync.engine.state import base_table
from ducksync.engine.store import ApplyResult, LocalStore, RemoteStore

__all__ = ["bulk_push", "push_plan", "recover"]


async def record_result(local: LocalStore, shape: Shape, batch_id: str,
                        result: bytes, *, fresh_keys: bool = False) -> tuple[int, int]:
    """Move the base for the batch's accepted rows; returns (applied, cas_conflicts).

    ``fresh_keys``: the batch's keys are known to be absent from the base (bulk push
    into an empty base, each key in one batch), so the base only gets inserts.
    """
    key, base = shape.key, base_table(shape.table)
    if not result:  # acknowledged earlier, so already recorded
        await local.execute("DELETE FROM ducksync.outbox WHERE batch_id = ?", [batch_id])
        return 0, 0
    await local.ingest_arrow("__ds_res", result)
    casts = ", ".join(f"CAST(r.{sb.quote_ident(k)} AS {shape.types[k]})" for k in key)
    named = ", ".join(f"CAST(r.{sb.quote_ident(k)} AS {shape.types[k]}) AS {sb.quote_ident(k)}"
                      for k in key)
    ok, bad = (await local.fetch_rows(
        "SELECT count(*) FILTER (WHERE __ds_status = 'ok'), "
        "count(*) FILTER (WHERE __ds_status <> 'ok') FROM __ds_res"))[0]
    await local.execute("BEGIN TRANSACTION")
    try:
        if not fresh_keys:
            await local.execute(
                f"DELETE FROM {base} AS b USING (SELECT {named} FROM __ds_res r WHERE "
                f"r.__ds_status = 'ok') r WHERE {sb.key_join_sql(key, 'b', 'r')}")
        await local.execute(
            f"INSERT INTO {base} SELECT {casts}, r.__ds_lh, r.__ds_rh, r.__ds_rk FROM __ds_res r "
            "WHERE r.__ds_status = 'ok' AND r.__ds_rh IS NOT NULL")
        await local.execute("DELETE FROM ducksync.outbox WHERE batch_id = ?", [batch_id])
        await local.execute("COMMIT")
    except BaseException:
        await local.execute("ROLLBACK")
        raise
    await local.execute("DROP TABLE IF EXISTS __ds_res")
    return int(ok), int(bad)


async def recover(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer) -> int:
    """Settle batches a crash left in the outbox; returns how many were recorded."""
    rows = await local.fetch_rows("SELECT batch_id FROM ducksync.outbox WHERE table_name = ? "
                                  "ORDER BY created_at", [shape.table])
    done = 0
    for (batch_id,) in rows:
        res = await remote.batch_result(batch_id)
        xfer.calls += 1
        if res is None:
            await local.execute("DELETE FROM ducksync.outbox WHERE batch_id = ?", [batch_id])
            continue
        xfer.received += len(res["result"])
        await record_result(local, shape, batch_id, res["result"])
        await remote.ack_batches([batch_id])
        done += 1
    return done


async def _send(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer,
                slices: list[tuple[str, list[int]]], compression: str | None, acked: list[str],
                *, batch_rows: int, batch_bytes: int,
                fresh_keys: bool = False) -> tuple[int, int]:
    """Steps (1)-(3) for every chunk the ``slices`` export to, pipelined.

    Each batch still goes outbox (1) → one remote transaction (2) → base + outbox
    (3), in that order. What overlaps is only *other* batches' local work with a
    remote apply: while the remote applies batch n, the local side records batch
    n-1 and exports the next slice. Local statements never interleave (one local
    chain at a time, so a local transaction is never split), and at most one
    ``apply_batch`` is in flight, so the remote sees the same calls in the same order.
    """
    applied = conflicts = 0
    todo = iter(slices)
    queue: collections.deque[bytes] = collections.deque()

    async def refill() -> None:
        for sql, params in todo:
            with xfer.phase("push.export"):
                queue.extend([c async for c in local.export_arrow(
                    sql, params, batch_rows=batch_rows, batch_bytes=batch_bytes)])
            if queue:
                return

    async def record(batch_id: str, result: bytes) -> None:
        nonlocal applied, conflicts
        with xfer.phase("push.record"):
            ok, bad = await record_result(local, shape, batch_id, result, fresh_keys=fresh_keys)
        acked.append(batch_id)
        applied += ok
        conflicts += bad

    async def apply(batch_id: str, payload: bytes) -> ApplyResult:
        with xfer.phase("push.remote_apply"):
            return await remote.apply_batch(shape.table, shape.key, batch_id, payload)

    await refill()
    prev: tuple[str, bytes] | None = None
    while queue:
        chunk = queue.popleft()
        batch_id = uuid.uuid4().hex
        with xfer.phase("push.outbox"):
            await local.execute("INSERT INTO ducksync.outbox VALUES (?, ?, now())",
                                [batch_id, shape.table])
        payload = codec.encode(chunk, compression)
        del chunk
        task = asyncio.ensure_future(apply(batch_id, payload))
        try:
            if prev is not None:
                await record(*prev)
                prev = None
            if not queue:
                await refill()
        except BaseException:
            # the apply may still commit: its outbox entry lets recover() settle it
            with contextlib.suppress(BaseException):
                await task
            raise
        res = await task
        xfer.calls += 1
        xfer.sent += len(payload)
        xfer.received += len(res["result"])
        prev = (batch_id, res["result"])
    if prev is not None:
        await record(*prev)
    return applied, conflicts


async def _ack(remote: RemoteStore, xfer: Transfer, acked: list[str]) -> None:
    if acked:  # one call for the run: the remote may now drop the stored results
        await remote.ack_batches(acked)
        xfer.calls += 1


async def push_plan(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer, *,
                    batch_rows: int, batch_bytes: int,
                    compression: str | None) -> tuple[int, int]:
    """Send every ``push`` row; returns (applied, cas_conflicts)."""
    key, t, k0 = shape.key, sb.quote_ident(shape.table), sb.quote_ident(shape.key[0])
    nonkey = [c for c in shape.columns if c not in key]
    # Snapshot first: the export must not hold a cursor while other statements run,
    # and the hash sent as __ds_lh must be the hash of exactly the row sent.
    with xfer.phase("push.snapshot"):
        await local.execute(
            f"CREATE OR REPLACE TEMP TABLE __ds_push AS SELECT {sb.cols_sql(key, 'p')}"
            + (f", {sb.cols_sql(nonkey, 't')}" if nonkey else "")
            + f", CASE WHEN t.{k0} IS NULL THEN 'D' ELSE 'U' END AS __ds_op, p.rh_now AS "
            f"__ds_expect, CASE WHEN t.{k0} IS NULL THEN NULL ELSE "
            f"{sb.row_hash_sql(shape.columns, 't')} END AS __ds_lh, row_number() OVER () AS "
            f"__ds_seq FROM __ds_plan p LEFT JOIN {t} t ON {sb.key_join_sql(key, 'p', 't')} "
            "WHERE p.action = 'push'")
        total = int((await local.fetch_rows("SELECT count(*) FROM __ds_push"))[0][0])
    acked: list[str] = []
    cols = sb.cols_sql([*key, *nonkey, "__ds_op", "__ds_expect", "__ds_lh"])
    slices = [(f"SELECT {cols} FROM __ds_push WHERE __ds_seq > ? AND __ds_seq <= ?",
               [start, start + batch_rows]) for start in range(0, total, batch_rows)]
    applied, conflicts = await _send(local, remote, shape, xfer, slices, compression, acked,
                                     batch_rows=batch_rows, batch_bytes=batch_bytes)
    await _ack(remote, xfer, acked)
    return applied, conflicts


async def bulk_push(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer, *,
                    batch_rows: int, batch_bytes: int,
                    compression: str | None) -> tuple[int, int]:
    """Initial push: the base is empty and the remote table was empty when checked.

    Every local row is an insert expected absent, so no diff, plan or snapshot join
    is needed: the rows (hashed once) are exported straight from the table, in large
    batches, and the remote's bulk path inserts them without compare-and-swap joins
    (it still refuses any key that exists by then: those come back as conflicts, as
    on the normal path). Requires the key to be the local table's primary key (each
    key in exactly one batch, so the base gets plain inserts). Tables above one
    batch are snapshotted first so that batches cannot overlap.
    """
    t = sb.quote_ident(shape.table)
    key, nonkey = shape.key, [c for c in shape.columns if c not in shape.key]
    select = (f"SELECT {sb.cols_sql([*key, *nonkey])}, 'U' AS __ds_op, NULL::UBIGINT AS "
              f"__ds_expect, {sb.row_hash_sql(shape.columns)} AS __ds_lh")
    total = int((await local.fetch_rows(f"SELECT count(*) FROM {t}"))[0][0])
    acked: list[str] = []
    snapshot = total > batch_rows
    if not snapshot:  # one consistent query: no snapshot needed
        slices = [(f"{select} FROM {t}", list[int]())]
    else:
        with xfer.phase("push.snapshot"):
            await local.execute(f"CREATE OR REPLACE TEMP TABLE __ds_push AS {select} FROM {t}")
            total = int((await local.fetch_rows("SELECT count(*) FROM __ds_push"))[0][0])
        cols = sb.cols_sql([*key, *nonkey, "__ds_op", "__ds_expect", "__ds_lh"])
        # a fresh temp table's rowids are 0..n-1; ranges skip row groups (zonemaps)
        slices = [(f"SELECT {cols} FROM __ds_push WHERE rowid >= ? AND rowid < ?",
                   [lo, lo + batch_rows]) for lo in range(0, total, batch_rows)]
    applied, conflicts = await _send(local, remote, shape, xfer, slices, compression, acked,
                                     batch_rows=batch_rows, batch_bytes=batch_bytes,
                                     fresh_keys=True)
    if snapshot:
        await local.execute("DROP TABLE IF EXISTS __ds_push")
    await _ack(remote, xfer, acked)
    return applied, conflicts
