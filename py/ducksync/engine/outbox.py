"""Settling what a crash left in ``ducksync.outbox`` (run before every sync of a table).

Two kinds of entries: a batch id of the general push (:mod:`ducksync.engine.push`) and
one ``run:<id>`` per bulk run (:mod:`ducksync.engine.bulk`). Each has a journal of
what it sent, for a batch whose answer the remote pruned before this client heard it.
"""

from __future__ import annotations

from ducksync.engine.bulk import RUN, recover_run
from ducksync.engine.detect import Transfer
from ducksync.engine.push import forget_batch, has_journal, record_lost, record_result
from ducksync.engine.schema import Shape
from ducksync.engine.state import forget_base_sums
from ducksync.engine.store import LocalStore, RemoteStore
from ducksync.faults import reached

__all__ = ["recover"]


async def recover(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer) -> int:
    """Settle what a crash left in the outbox; returns how many entries there were."""
    rows = await local.fetch_rows("SELECT batch_id FROM ducksync.outbox WHERE table_name = ? "
                                  "ORDER BY created_at", [shape.table])
    if rows:
        await forget_base_sums(local, shape.table)  # settling writes the base
    journaled = bool(rows) and await has_journal(local, shape.table)
    for (batch_id,) in rows:
        reached("recover")
        if batch_id.startswith(RUN):
            await recover_run(local, remote, shape, xfer, batch_id)
            continue
        res = await remote.batch_result(batch_id)
        xfer.calls += 1
        if res is None:  # never committed: its rows are still to push
            await forget_batch(local, shape.table, batch_id, journaled=journaled)
            continue
        xfer.received += len(res["result"])
        # an empty answer to a batch still here was pruned (the ack follows the record)
        if res["result"] or not (journaled and await record_lost(local, shape, batch_id)):
            await record_result(local, shape, batch_id, res["result"], journaled=journaled)
        await remote.ack_batches([batch_id])
    return len(rows)
