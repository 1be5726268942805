"""Push: the plan's ``push`` rows leave as Arrow IPC batches, applied exactly once.

Per batch: (1) its id is committed to ``ducksync.outbox``, with its keys in the
journal (:func:`~ducksync.engine.state.push_sent_table`); (2) the remote applies
it in one transaction with a ledger entry and compare-and-swap; (3) the result
moves the base and clears the outbox entry in one local transaction; (4) the
remote may forget the stored results (one ack per run). A crash between any two steps leaves
an outbox entry that :func:`ducksync.engine.outbox.recover` settles on the next sync:
the ledger either has the result (record it) or the batch never committed (forget it),
or the remote pruned the answer (:func:`record_lost`, from the journal).
The initial push into an empty remote has its own path: :mod:`ducksync.engine.bulk`.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from ducksync.engine import codec, rejections
from ducksync.engine import sqlbuild as sb
from ducksync.engine.detect import Transfer
from ducksync.engine.schema import Shape
from ducksync.engine.state import base_table, push_sent_name, push_sent_table, stored_hashes_sql
from ducksync.engine.store import ApplyResult, LocalStore, RemoteStore
from ducksync.engine.transaction import transaction

__all__ = ["NO_SPLIT", "PUSH_TOTAL", "UNKNOWN", "ack", "forget_batch", "has_journal",
           "push_plan", "record_lost", "record_result"]

# One row (n): how many rows the current push sends, for progress bars (the sync
# service reads it at the first apply; a temp table, so it joins any transaction).
PUSH_TOTAL = "__ds_push_total"
NO_SPLIT = 1 << 60  # batch_bytes that never closes a chunk early: one export = one chunk
# The hashes a base row gets when what the remote holds for its key is unknown (a
# committed batch whose answer is gone): equal to no row's hash (bar the 64-bit bet
# every comparison makes), so each side's row reads as changed, a conflict when they
# differ, and the same content on both sides simply settles the base ('base').
UNKNOWN = 0
# Aim a batch narrowed for bytes at this share of batch_bytes (rows differ in width).
_NARROW_FILL = 0.8


async def record_result(local: LocalStore, shape: Shape, batch_id: str, result: bytes, *,
                        fresh_keys: bool = False, journaled: bool = False) -> tuple[int, int]:
    """Move the base for the batch's accepted rows; returns (applied, cas_conflicts).
    Rows the remote refused (sync rules) are neither: they are recorded in
    ``ducksync.rejections`` (:mod:`ducksync.engine.rejections`) and the base keeps them.

    ``fresh_keys``: the batch's keys are known to be absent from the base (bulk push
    into an empty base, each key in one batch), so the base only gets inserts.
    """
    key, base = shape.key, base_table(shape.table)
    if not result:  # acknowledged earlier (so already recorded), or lost: record_lost
        await forget_batch(local, shape.table, batch_id, journaled=journaled)
        return 0, 0
    await local.ingest_arrow("__ds_res", result)
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
            f"INSERT INTO {base} SELECT {sb.cols_sql(key)}, "
            f"{stored_hashes_sql(key, '__ds_lh', '__ds_rh', '__ds_rk')} FROM (SELECT {named}, "
            "r.__ds_lh, r.__ds_rh, r.__ds_rk FROM __ds_res r WHERE r.__ds_status = 'ok' AND "
            "r.__ds_rh IS NOT NULL)")
        await rejections.record(local, shape, "__ds_res")
        await _forget_entry(local, shape.table, batch_id, journaled=journaled)
    await local.execute("DROP TABLE IF EXISTS __ds_res")
    return int(ok), int(bad)


async def _forget_entry(local: LocalStore, table: str, batch_id: str, *,
                        journaled: bool) -> None:
    """Delete a batch's outbox entry and its journaled keys (inside the caller's
    transaction: the two go together)."""
    await local.execute("DELETE FROM ducksync.outbox WHERE batch_id = ?", [batch_id])
    if journaled:
        await local.execute(f"DELETE FROM {push_sent_table(table)} WHERE batch_id = ?",
                            [batch_id])


async def forget_batch(local: LocalStore, table: str, batch_id: str, *, journaled: bool) -> None:
    """Forget a batch (outbox entry and journaled keys) in a transaction of its own:
    one recorded already, or one the remote never committed (its rows are still to push)."""
    async with transaction(local):
        await _forget_entry(local, table, batch_id, journaled=journaled)


async def _journal_entry(local: LocalStore, shape: Shape, batch_id: str, lo: int,
                         hi: int) -> None:
    """Step (1): the batch's outbox entry and the keys of its rows (``__ds_seq`` in
    ``(lo, hi]`` of the snapshot), committed together before the batch can leave.

    Why the keys: if the remote prunes the batch's answer before this client hears it
    (unacknowledged for days), recovery knows which keys the batch may have written
    (:func:`record_lost`). Key values, not hashes: the base's ``__rkd`` is the remote's
    key hash, which another engine may compute differently.
    """
    async with transaction(local):
        await local.execute("INSERT INTO ducksync.outbox VALUES (?, ?, now())",
                            [batch_id, shape.table])
        await local.execute(f"INSERT INTO {push_sent_table(shape.table)} SELECT ?, "
                            f"{sb.cols_sql(shape.key)} FROM __ds_push WHERE __ds_seq > ? AND "
                            "__ds_seq <= ?", [batch_id, lo, hi])


async def has_journal(local: LocalStore, table: str) -> bool:
    """Whether ``table``'s push journal exists (a version from before it had none)."""
    rows = await local.fetch_rows(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND "
        "schema_name = 'ducksync' AND table_name = ?", [push_sent_name(table)])
    return bool(rows[0][0])


async def record_lost(local: LocalStore, shape: Shape, batch_id: str) -> bool:
    """Settle a batch the remote committed but whose answer it pruned (an empty answer
    to a batch still in the outbox: only a run's ack drops an answer, and that comes
    after the entry is gone). False when the batch journaled no keys (written by a
    version without the journal): the caller settles it the old way. The journal must
    exist (:func:`has_journal`).

    What the batch did to each key is unknown (written, or refused by compare-and-swap),
    so each of its keys gets base hashes :data:`UNKNOWN`: its existing base row keeps
    its key and ``__rkd``, a key new in the batch gets one with the local key hash as
    ``__rk`` (the bulk journal's; only a bucket hint when the remote hashes keys
    otherwise: detection joins by key). Every difference on them is then a conflict
    per the policy, and a key alike on both sides settles. Before, recovery read the
    empty answer as "recorded": a new row deleted remotely meanwhile was pushed again
    (a delete undone without a conflict).
    """
    key, base, journal = shape.key, base_table(shape.table), push_sent_table(shape.table)
    if not (await local.fetch_rows(
            f"SELECT count(*) FROM {journal} WHERE batch_id = ?", [batch_id]))[0][0]:
        return False
    sent = f"(SELECT {sb.cols_sql(key)} FROM {journal} WHERE batch_id = ?)"
    async with transaction(local):
        await local.execute(
            f"UPDATE {base} AS b SET __lh = {UNKNOWN}, __rhd = {UNKNOWN} FROM {sent} j "
            f"WHERE {sb.key_join_sql(key, 'b', 'j')}", [batch_id])
        await local.execute(
            f"INSERT INTO {base} SELECT {sb.cols_sql(key, 'j')}, {UNKNOWN}, {UNKNOWN}, "
            f"{sb.key_hash_sql(key, 'j')} FROM {sent} j ANTI JOIN {base} b ON "
            f"{sb.key_join_sql(key, 'j', 'b')}", [batch_id])
        await _forget_entry(local, shape.table, batch_id, journaled=True)
    return True


async def _send(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer,
                select: str, total: int, compression: str | None, acked: list[str],
                *, batch_rows: int, batch_bytes: int) -> tuple[int, int]:
    """Steps (1)-(3) for every batch of the snapshot's rows (``select`` takes the
    ``__ds_seq`` range ``(lo, hi]``), pipelined.

    Each batch is ONE export of a ``__ds_seq`` range, so the journal can name its keys
    by that range: a range above ``batch_bytes`` is narrowed (to what its bytes per
    row suggest) and exported again, and later ranges keep the narrower width.

    Each batch still goes outbox (1) → one remote transaction (2) → base + outbox
    (3), in that order. What overlaps is only *other* batches' local work with a
    remote apply: while the remote applies batch n, the local side records batch
    n-1 and exports the next range. Local statements never interleave (one local
    chain at a time, so a local transaction is never split), and at most one
    ``apply_batch`` is in flight, so the remote sees the same calls in the same order.
    """
    applied = conflicts = 0
    start, width = 0, batch_rows
    ready: tuple[bytes, int, int] | None = None  # the next batch: (IPC, lo, hi)

    async def refill() -> None:
        nonlocal start, width, ready
        while ready is None and start < total:
            hi = min(start + width, total)
            with xfer.phase("push.export"):
                chunks = [c async for c in local.export_arrow(
                    select, [start, hi], batch_rows=hi - start, batch_bytes=NO_SPLIT)]
            size = sum(len(c) for c in chunks)
            if (len(chunks) > 1 or size > batch_bytes) and hi - start > 1:
                width = max(1, min(hi - start - 1,
                                   int((hi - start) * batch_bytes * _NARROW_FILL / size)))
                continue
            if chunks:
                ready = (chunks[0], start, hi)
            start = hi

    async def record(batch_id: str, result: bytes) -> None:
        nonlocal applied, conflicts
        with xfer.phase("push.record"):
            ok, bad = await record_result(local, shape, batch_id, result, journaled=True)
        acked.append(batch_id)
        applied += ok
        conflicts += bad

    async def apply(batch_id: str, payload: bytes) -> ApplyResult:
        with xfer.phase("push.remote_apply"):
            return await remote.apply_batch(shape.table, shape.key, batch_id, payload)

    await refill()
    prev: tuple[str, bytes] | None = None
    while ready is not None:
        chunk, lo, hi = ready
        ready = None
        batch_id = uuid.uuid4().hex
        with xfer.phase("push.outbox"):
            await _journal_entry(local, shape, batch_id, lo, hi)
        payload = codec.encode(chunk, compression)
        del chunk
        task = asyncio.ensure_future(apply(batch_id, payload))
        try:
            if prev is not None:
                await record(*prev)
                prev = None
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
        if total:  # the journal's key columns are the table's (a key change drops it)
            await local.execute(
                f"CREATE TABLE IF NOT EXISTS {push_sent_table(shape.table)} AS SELECT "
                f"''::VARCHAR AS batch_id, {sb.cols_sql(key)} FROM __ds_push LIMIT 0")
    acked: list[str] = []
    cols = sb.export_cols_sql(shape.types, [*key, *nonkey, "__ds_op", "__ds_expect", "__ds_lh"])
    select = f"SELECT {cols} FROM __ds_push WHERE __ds_seq > ? AND __ds_seq <= ?"
    applied, conflicts = await _send(local, remote, shape, xfer, select, total, compression,
                                     acked, batch_rows=batch_rows, batch_bytes=batch_bytes)
    await ack(remote, xfer, acked)
    return applied, conflicts
