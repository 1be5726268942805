"""Push: the plan's ``push`` rows leave as Arrow IPC batches, applied exactly once.

Per batch: (1) its id is committed to ``ducksync.outbox``; (2) the remote applies
it in one transaction with a ledger entry and compare-and-swap; (3) the result
moves the base and clears the outbox entry in one local transaction; (4) the
remote may forget the stored results (one ack per run). A crash between any two steps leaves
an outbox entry that :func:`recover` settles on the next sync: the ledger either
has the result (record it) or the batch never committed (forget it).
"""

from __future__ import annotations

import uuid

from ducksync.engine import codec
from ducksync.engine import sqlbuild as sb
from ducksync.engine.detect import Transfer
from ducksync.engine.schema import Shape
from ducksync.engine.state import base_table
from ducksync.engine.store import LocalStore, RemoteStore

__all__ = ["push_plan", "recover"]


async def record_result(local: LocalStore, shape: Shape, batch_id: str,
                        result: bytes) -> tuple[int, int]:
    """Move the base for the batch's accepted rows; returns (applied, cas_conflicts)."""
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


async def push_plan(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer, *,
                    batch_rows: int, batch_bytes: int,
                    compression: str | None) -> tuple[int, int]:
    """Send every ``push`` row; returns (applied, cas_conflicts)."""
    key, t, k0 = shape.key, sb.quote_ident(shape.table), sb.quote_ident(shape.key[0])
    nonkey = [c for c in shape.columns if c not in key]
    # Snapshot first: the export must not hold a cursor while other statements run,
    # and the hash sent as __ds_lh must be the hash of exactly the row sent.
    await local.execute(
        f"CREATE OR REPLACE TEMP TABLE __ds_push AS SELECT {sb.cols_sql(key, 'p')}"
        + (f", {sb.cols_sql(nonkey, 't')}" if nonkey else "")
        + f", CASE WHEN t.{k0} IS NULL THEN 'D' ELSE 'U' END AS __ds_op, p.rh_now AS "
        f"__ds_expect, CASE WHEN t.{k0} IS NULL THEN NULL ELSE "
        f"{sb.row_hash_sql(shape.columns, 't')} END AS __ds_lh, row_number() OVER () AS __ds_seq"
        f" FROM __ds_plan p LEFT JOIN {t} t ON {sb.key_join_sql(key, 'p', 't')} "
        "WHERE p.action = 'push'")
    total = int((await local.fetch_rows("SELECT count(*) FROM __ds_push"))[0][0])
    applied = conflicts = 0
    acked: list[str] = []
    cols = sb.cols_sql([*key, *nonkey, "__ds_op", "__ds_expect", "__ds_lh"])
    for start in range(0, total, batch_rows):
        chunks = [c async for c in local.export_arrow(
            f"SELECT {cols} FROM __ds_push WHERE __ds_seq > ? AND __ds_seq <= ?",
            [start, start + batch_rows], batch_rows=batch_rows, batch_bytes=batch_bytes)]
        for chunk in chunks:
            batch_id = uuid.uuid4().hex
            await local.execute("INSERT INTO ducksync.outbox VALUES (?, ?, now())",
                                [batch_id, shape.table])
            payload = codec.encode(chunk, compression)
            res = await remote.apply_batch(shape.table, key, batch_id, payload)
            xfer.calls += 1
            xfer.sent += len(payload)
            xfer.received += len(res["result"])
            ok, bad = await record_result(local, shape, batch_id, res["result"])
            acked.append(batch_id)
            applied += ok
            conflicts += bad
    if acked:  # one call for the run: the remote may now drop the stored results
        await remote.ack_batches(acked)
        xfer.calls += 1
    return applied, conflicts
