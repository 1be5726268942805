"""Push: the plan's ``push`` rows leave as Arrow IPC batches, applied exactly once.

Per batch: (1) its id is committed to ``ducksync.outbox``; (2) the remote applies
it in one transaction with a ledger entry and compare-and-swap; (3) the result
moves the base and clears the outbox entry in one local transaction; (4) the
remote may forget the stored results (one ack per run). A crash between any two steps leaves
an outbox entry that :func:`ducksync.engine.outbox.recover` settles on the next sync:
the ledger either has the result (record it) or the batch never committed (forget it).
The initial push into an empty remote has its own path: :mod:`ducksync.engine.bulk`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import uuid

from ducksync.engine import codec, rejections
from ducksync.engine import sqlbuild as sb
from ducksync.engine.detect import Transfer
from ducksync.engine.schema import Shape
from ducksync.engine.state import base_table
from ducksync.engine.store import ApplyResult, LocalStore, RemoteStore
from ducksync.engine.transaction import transaction

__all__ = ["PUSH_TOTAL", "ack", "push_plan", "record_result"]

# One row (n): how many rows the current push sends, for progress bars (the sync
# service reads it at the first apply; a temp table, so it joins any transaction).
PUSH_TOTAL = "__ds_push_total"


async def record_result(local: LocalStore, shape: Shape, batch_id: str,
                        result: bytes, *, fresh_keys: bool = False) -> tuple[int, int]:
    """Move the base for the batch's accepted rows; returns (applied, cas_conflicts).
    Rows the remote refused (sync rules) are neither: they are recorded in
    ``ducksync.rejections`` (:mod:`ducksync.engine.rejections`) and the base keeps them.

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
        "count(*) FILTER (WHERE __ds_status <> 'ok' AND NOT starts_with(__ds_status, ?)) "
        "FROM __ds_res", [rejections.REJECTED_PREFIX]))[0]
    async with transaction(local):
        if not fresh_keys:
            await local.execute(
                f"DELETE FROM {base} AS b USING (SELECT {named} FROM __ds_res r WHERE "
                f"r.__ds_status = 'ok') r WHERE {sb.key_join_sql(key, 'b', 'r')}")
        await local.execute(
            f"INSERT INTO {base} SELECT {casts}, r.__ds_lh, r.__ds_rh, r.__ds_rk FROM __ds_res r "
            "WHERE r.__ds_status = 'ok' AND r.__ds_rh IS NOT NULL")
        await rejections.record(local, shape, "__ds_res")
        await local.execute("DELETE FROM ducksync.outbox WHERE batch_id = ?", [batch_id])
    await local.execute("DROP TABLE IF EXISTS __ds_res")
    return int(ok), int(bad)


async def _send(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer,
                slices: list[tuple[str, list[int]]], compression: str | None, acked: list[str],
                *, batch_rows: int, batch_bytes: int) -> tuple[int, int]:
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
            ok, bad = await record_result(local, shape, batch_id, result)
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


async def ack(remote: RemoteStore, xfer: Transfer, acked: list[str]) -> None:
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
            f"{sb.row_hash_sql(shape.types, 't')} END AS __ds_lh, row_number() OVER () AS "
            f"__ds_seq FROM __ds_plan p LEFT JOIN {t} t ON {sb.key_join_sql(key, 'p', 't')} "
            "WHERE p.action = 'push'")
        await local.execute(f"CREATE OR REPLACE TEMP TABLE {PUSH_TOTAL} AS "
                            "SELECT count(*) AS n FROM __ds_push")
        total = int((await local.fetch_rows(f"SELECT n FROM {PUSH_TOTAL}"))[0][0])
    acked: list[str] = []
    cols = sb.export_cols_sql(shape.types, [*key, *nonkey, "__ds_op", "__ds_expect", "__ds_lh"])
    slices = [(f"SELECT {cols} FROM __ds_push WHERE __ds_seq > ? AND __ds_seq <= ?",
               [start, start + batch_rows]) for start in range(0, total, batch_rows)]
    applied, conflicts = await _send(local, remote, shape, xfer, slices, compression, acked,
                                     batch_rows=batch_rows, batch_bytes=batch_bytes)
    await ack(remote, xfer, acked)
    return applied, conflicts
