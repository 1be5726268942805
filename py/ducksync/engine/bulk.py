"""The bulk path: the initial push of a whole table into an empty remote table.

No diff and no plan: every local row is an insert expected absent. The table goes in
``rowid`` ranges, each copied once into a bounded temp table, sent with the client's
prediction of the remote's checksum so that the remote can answer compactly
(``verified``), and recorded from the copy. See :func:`bulk_push` and docs/engine.md
("Bulk path"); a run cut off midway is settled by :func:`recover_run`, exactly, from
the journal of what each batch sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from dataclasses import dataclass

from ducksync.engine import codec
from ducksync.engine import sqlbuild as sb
from ducksync.engine.detect import BaseSums, Transfer
from ducksync.engine.push import NO_SPLIT, PUSH_TOTAL, UNKNOWN, ack, record_result
from ducksync.engine.schema import Shape
from ducksync.engine.state import (
    base_rk_sql,
    base_table,
    bulk_sent_name,
    bulk_sent_table,
    stored_hashes_sql,
)
from ducksync.engine.store import ApplyResult, LocalStore, RemoteStore
from ducksync.engine.transaction import transaction

__all__ = ["RUN", "bulk_push", "recover_run"]

# the outbox entry of a bulk run (see bulk_push); its batches are "<run id>.<k>"
RUN = "run:"
_RANGE_FILL = 0.7  # aim ranges at this share of batch_bytes (the probe is only a sample)
_PROBE_ROWS = 4096  # rows exported to estimate bytes per row
# Batches at the remote at once. Two: the next batch's upload (≈ 250 ms for 18 MB
# from the browser, worker hop + HTTP body, measured) overlaps the remote applying
# this one, instead of leaving the remote idle between batches. Batches of a run hold
# disjoint keys, so their order does not matter to the data; :func:`recover_run` knows
# a committed batch can follow at most ``_IN_FLIGHT - 1`` missing ones.
_IN_FLIGHT = 2
# temp tables for range copies: one per batch in flight, plus the next one prepared
_SLOTS = tuple(f"__ds_rng{i}" for i in range(_IN_FLIGHT + 1))
# temp table: (lo, hi) of the first key column in each range sent (_BulkRun._sent_before)
_SPANS = "__ds_spans"
# DuckDB's row group. A range of whole row groups lets each base insert write its rows
# straight to the database file instead of through the WAL first: on DuckDB-WASM
# (OPFS) that made base inserts 3-4x cheaper per row (100k-row ranges: 1.7-2.5 us/row;
# 245,760: 0.4-0.6 us/row), and the source is read in whole row groups too.
_ROW_GROUP = 122_880


async def bulk_push(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer, *,
                    batch_rows: int, batch_bytes: int,
                    compression: str | None) -> tuple[int, int, BaseSums | None]:
    """Initial push: the base is empty and the remote table was empty when checked.

    Every local row is an insert expected absent, so there is no diff or plan: the
    table is cut into ``rowid`` ranges of about one batch, and each range is copied
    ONCE, by one statement, into a temp table (a consistent snapshot of that range,
    even while the page writes) with its row and key hashes. From that copy come the
    client's *prediction* of the remote's checksum (sent with the batch), the batch
    itself and, afterwards, its base rows. The remote's bulk path inserts without
    compare-and-swap joins and, when its own checksum agrees, answers compactly
    (``verified``): the base rows are then the copy's (``rh`` = the local row hash),
    and no per-row answer is built, stored, sent or read back. A batch answered in
    full (a key that exists by then, an engine that hashes differently) is recorded
    from its answer as usual. Memory is bounded by ``len(_SLOTS)`` batches, not the table.

    The outbox holds one entry for the whole run (``run:<id>``; batches are
    ``<id>.<k>``, at most ``_IN_FLIGHT`` unanswered at a time), and the journal
    (:func:`~ducksync.engine.state.bulk_sent_table`) what each batch sends (its key
    and row hashes, committed before it leaves); both go in one transaction once every
    batch is recorded, so :func:`recover_run` can find every batch the remote
    committed and record it exactly. Requires the key
    to be the local table's primary key (each key in one range: the base only gets
    inserts, bar a key moved between ranges mid-run: :meth:`_BulkRun._sent_before`).

    Returns ``(applied, conflicts, sums)``: ``sums``, the base's sums after the run,
    when every range was verified (the ranges' own, combined; None otherwise), so the
    sync need not read the base back to keep them.
    """
    run = _BulkRun(local, remote, shape, xfer, compression=compression)
    # the journal first: a run's outbox entry never exists without it
    await local.execute(f"CREATE OR REPLACE TABLE {run.journal} (k INTEGER, __rk UBIGINT, "
                        "__lh UBIGINT)")
    await local.execute("INSERT INTO ducksync.outbox VALUES (?, ?, now())",
                        [RUN + run.id, shape.table])
    try:
        await local.execute(f"CREATE OR REPLACE TEMP TABLE {PUSH_TOTAL} AS "
                            f"SELECT count(*) AS n FROM {run.t}")
        await local.execute(f"CREATE OR REPLACE TEMP TABLE {_SPANS} AS SELECT {run.k0} AS lo, "
                            f"{run.k0} AS hi FROM {run.t} LIMIT 0")
        run.ranges = await _ranges(local, run.t, run.select, batch_rows, batch_bytes)
        await run.send_all(batch_bytes)
    finally:
        for slot in (*_SLOTS, _SPANS):
            with contextlib.suppress(BaseException):
                await local.execute(f"DROP TABLE IF EXISTS {slot}")
    await _settled(local, shape.table, RUN + run.id)
    await ack(remote, xfer, run.sent)
    return run.applied, run.conflicts, run.sums


async def _settled(local: LocalStore, table: str, entry: str) -> None:
    """The run's outbox entry and its journal go together: an entry without a journal
    is then only ever one written before journals existed (see :func:`recover_run`)."""
    async with transaction(local):
        await local.execute("DELETE FROM ducksync.outbox WHERE batch_id = ?", [entry])
        await local.execute(f"DROP TABLE IF EXISTS {bulk_sent_table(table)}")


@dataclass
class _Range:
    """A range ready to send: its IPC, the predicted checksum, its rows, the temp
    table (``slot``) holding its copy and hashes, and its batch number (``<run id>.k``:
    ranges are sent in the order prepared)."""

    k: int
    payload: bytes
    checksum: str
    rows: int
    slot: str
    x: int  # bit_xor of the mixed row hashes: the range's share of BaseSums.x
    resent: bool  # holds a key an earlier range sent too (see _BulkRun._sent_before)


class _BulkRun:
    """One bulk run's pipeline.

    While the remote applies range k, range k+1 is already on its way to it and the
    local side records range k-1 and prepares range k+2. Each range is read and
    hashed ONCE, into a temp table of at most one
    batch (``slot``): the prediction, the export and the base rows all read it (on
    DuckDB-WASM one row-hash pass over 1M rows costs seconds). Each record commits on
    its own, so no transaction grows with the table.
    """

    def __init__(self, local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer,
                 *, compression: str | None) -> None:
        self.local, self.remote, self.shape, self.xfer = local, remote, shape, xfer
        self.compression = compression
        self.id = uuid.uuid4().hex
        self.t, self.journal = sb.quote_ident(shape.table), bulk_sent_table(shape.table)
        key = shape.key
        self.k0 = sb.quote_ident(key[0])
        self.lh = sb.row_hash_sql(shape.types)
        ordered = [*key, *(c for c in shape.columns if c not in key)]
        self.cols, self.export = sb.cols_sql(ordered), sb.export_cols_sql(shape.types, ordered)
        self.select = (f"SELECT {self.cols}, 'U' AS __ds_op, NULL::UBIGINT AS __ds_expect, "
                       f"{self.lh} AS __ds_lh FROM {self.t}")  # the sample for _ranges
        self.ranges: list[tuple[int, int]] = []
        self.sent: list[str] = []
        self.prepared = 0  # ranges prepared so far: the next one's batch number
        self.applied = self.conflicts = 0
        self._free = list(_SLOTS)  # temp tables not holding a range that awaits recording
        # the base's sums so far (it starts empty); None once a range is not verified
        self.sums: BaseSums | None = BaseSums(0, None, 0)

    async def prepare(self, batch_bytes: int) -> _Range | None:
        """The next non-empty range; one above ``batch_bytes`` is split and redone."""
        while self.ranges:
            lo, hi = self.ranges.pop(0)
            slot = self._free[-1]
            with self.xfer.phase("push.predict"):
                await self.local.execute(
                    f"CREATE OR REPLACE TEMP TABLE {slot} AS SELECT {self.cols}, {self.lh} AS "
                    f"__ds_lh, {sb.key_hash_sql(self.shape.key)} AS __ds_rk FROM {self.t} "
                    "WHERE rowid >= ? AND rowid < ?", [lo, hi])
                checksum, n, x = (await self.local.fetch_rows(
                    f"SELECT {sb.checksum_sql('__ds_rk', '__ds_lh')}::VARCHAR, count(*), "
                    f"bit_xor({sb.mix_sql('__ds_lh')}) FROM {slot}"))[0]
            if not n:
                continue
            k = self.prepared
            with self.xfer.phase("push.export"):
                chunks = [c async for c in self.local.export_arrow(
                    f"SELECT {self.export}, 'U' AS __ds_op, NULL::UBIGINT AS __ds_expect, "
                    f"__ds_lh FROM {slot}", batch_rows=hi - lo, batch_bytes=NO_SPLIT)]
                fits = len(chunks) == 1 and (len(chunks[0]) <= batch_bytes or hi - lo <= 1)
                if fits:  # journaled (committed) before it can be sent
                    resent = await self._sent_before(slot)
                    await self.local.execute(
                        f"INSERT INTO {self.journal} SELECT ?, __ds_rk, __ds_lh FROM {slot}",
                        [k])
            if not fits:
                mid = (lo + hi) // 2
                self.ranges[:0] = [(lo, mid), (mid, hi)]
                continue
            self.prepared += 1
            self._free.pop()
            return _Range(k, codec.encode(chunks[0], self.compression), str(checksum), int(n),
                          slot, int(x), resent)
        return None

    async def _sent_before(self, slot: str) -> bool:
        """Whether a key of the range copied into ``slot`` was sent by an earlier range
        of the run (in its journal): moved between ranges mid-run (DuckDB renumbering
        ``rowid``s; the page rewriting the key, then a checkpoint compacting). If the
        remote deleted it in between, its primary key lets this copy in too, and this
        copy is what the remote holds: :meth:`record` replaces the earlier base row (a
        key's two base rows would cancel in the base's XOR sums, and the next sync
        would find the key twice). Asked while the remote applies an earlier range.

        First the range's span of the first key column against the spans sent before
        (two statements over the copy's one column): ranges of keys that grow with
        ``rowid`` never overlap, so the semi-join of the range's key hashes with the
        journal (its cost: docs/benchmarks.md) runs only for keys in no such order, or
        when a key really moved."""
        span = f"(SELECT min({self.k0}) AS lo, max({self.k0}) AS hi FROM {slot})"
        rows = await self.local.fetch_rows(
            f"SELECT count(*) FROM {_SPANS} a, {span} b WHERE b.lo <= a.hi AND b.hi >= a.lo")
        await self.local.execute(f"INSERT INTO {_SPANS} SELECT lo, hi FROM {span}")
        if not rows[0][0]:
            return False
        rows = await self.local.fetch_rows(
            f"SELECT count(*) FROM {slot} s SEMI JOIN {self.journal} j ON j.__rk = s.__ds_rk")
        return bool(rows[0][0])

    async def record(self, cur: _Range, batch_id: str, res: ApplyResult) -> None:
        """A verified range's base rows (``rh`` = ``lh``, as the checksum proved), or a
        full answer recorded as usual; then the range's slot is free again."""
        base = base_table(self.shape.table)
        with self.xfer.phase("push.record"):
            if res.get("verified"):
                if cur.resent:  # the earlier copy's base row goes: the remote holds this one
                    await self.local.execute(
                        f"DELETE FROM {base} WHERE {base_rk_sql(self.shape.key)} IN "
                        f"(SELECT __ds_rk FROM {cur.slot})")
                    self.sums = None
                await self.local.execute(  # rh = lh, rk = the key hash: both as derived
                    f"INSERT INTO {base} SELECT {sb.cols_sql(self.shape.key)}, "
                    f"{stored_hashes_sql(self.shape.key, '__ds_lh', None, None)} FROM {cur.slot}")
                self.applied += cur.rows
                if self.sums is not None:  # XOR sums: the range's rows join the base's
                    s = self.sums
                    self.sums = BaseSums(s.n + cur.rows, (s.x or 0) ^ cur.x,
                                         s.total ^ int(cur.checksum))
            else:
                self.sums = None
                ok, bad = await record_result(self.local, self.shape, batch_id,
                                              res["result"], fresh_keys=not cur.resent)
                self.applied, self.conflicts = self.applied + ok, self.conflicts + bad
        self._free.append(cur.slot)

    def send(self, cur: _Range) -> tuple[_Range, str, asyncio.Future[ApplyResult]]:
        """Start applying ``cur`` remotely: ``(range, batch id, its answer to come)``."""
        batch_id = f"{self.id}.{cur.k}"
        self.sent.append(batch_id)
        task = asyncio.ensure_future(self.remote.apply_batch(
            self.shape.table, self.shape.key, batch_id, cur.payload, checksum=cur.checksum))
        return cur, batch_id, task

    async def send_all(self, batch_bytes: int) -> None:
        """Keep ``_IN_FLIGHT`` batches at the remote and the next one prepared.

        A batch is sent only once the one ``_IN_FLIGHT`` places before it was answered
        (and so committed); answers are recorded in the order sent. On any failure the
        batches still in flight are awaited (they may commit: :func:`recover_run`
        finds them by id) before the error is raised.
        """
        flying: deque[tuple[_Range, str, asyncio.Future[ApplyResult]]] = deque()
        try:
            ready = await self.prepare(batch_bytes)
            while ready is not None or flying:
                if ready is not None and len(flying) < _IN_FLIGHT:
                    flying.append(self.send(ready))
                    ready = await self.prepare(batch_bytes)
                    continue
                cur, batch_id, task = flying.popleft()
                with self.xfer.phase("push.remote_apply"):
                    res = await task
                self.xfer.calls += 1
                self.xfer.sent += len(cur.payload)
                self.xfer.received += len(res["result"])
                if ready is not None:  # its turn came with this answer: send before recording
                    flying.append(self.send(ready))
                    ready = None
                await self.record(cur, batch_id, res)
                ready = await self.prepare(batch_bytes)
        except BaseException:
            for _, _, task in flying:
                with contextlib.suppress(BaseException):
                    await task
            raise


async def _ranges(local: LocalStore, t: str, select: str, batch_rows: int,
                  batch_bytes: int) -> list[tuple[int, int]]:
    """``rowid`` ranges of about ``batch_bytes * _RANGE_FILL`` bytes of IPC each.

    Bytes per row come from exporting a sample; a range that still comes out too big
    is split when exported. Ranges may hold fewer rows than their width (deleted
    rows leave gaps in ``rowid``). A width of a row group or more is rounded down to
    whole row groups (see ``_ROW_GROUP``), and the first ranges ramp up to it: one
    row group, then two, four… The remote can start on nothing before the first
    range is copied, hashed, exported and uploaded, so a small first range gets it
    working sooner; the next one, twice the size, is prepared while the remote
    applies it. Measured (1M rows, browser): first push 3.70 → 3.47 s, later pushes
    in the same page 2.82 → 2.54 s (medians; docs/benchmarks.md, Session 6).
    """
    lo, hi = (await local.fetch_rows(f"SELECT min(rowid), max(rowid) FROM {t}"))[0]
    if lo is None:
        return []
    sample = [c async for c in local.export_arrow(
        f"{select} LIMIT {_PROBE_ROWS}", batch_rows=_PROBE_ROWS, batch_bytes=NO_SPLIT)]
    n = min(_PROBE_ROWS, int(hi) - int(lo) + 1)
    per_row = max(1.0, sum(len(c) for c in sample) / max(n, 1))
    width = max(1, min(batch_rows, int(batch_bytes * _RANGE_FILL / per_row)))
    if width >= _ROW_GROUP:
        width -= width % _ROW_GROUP
    out: list[tuple[int, int]] = []
    start, step = int(lo), min(width, _ROW_GROUP)
    while start <= int(hi):
        out.append((start, start + step))
        start, step = start + step, min(width, step * 2)
    return out


async def recover_run(local: LocalStore, remote: RemoteStore, shape: Shape, xfer: Transfer,
                      entry: str) -> int:
    """Settle a bulk run cut off before its end (see :func:`bulk_push`).

    Its batches are ``<id>.0``, ``<id>.1``… and ``<id>.k`` was sent only after
    ``<id>.(k - _IN_FLIGHT)`` had committed, so once ``_IN_FLIGHT`` ids in a row were
    never committed no later one was either: those are the ids asked for. Answers
    in full are recorded (the non-fresh way: idempotent). Verified answers carry no
    rows: :func:`_record_journaled` records them from the run's journal, exactly as
    their answers would have, whatever either side wrote since (the next detection
    then sees those writes as changes: a conflict when both sides changed a key).

    A batch committed whose answer is empty and not verified lost its answer (the
    remote prunes answers unacknowledged for days; a run's batches are acknowledged
    only once its entry is gone): what it did to each key is unknown, so its keys are
    recorded as changed on both sides (:data:`UNKNOWN`), a conflict on any difference.
    """
    run = entry[len(RUN):]
    found: list[str] = []
    verified: list[int] = []
    lost: list[int] = []
    k = misses = 0
    while misses < _IN_FLIGHT:
        batch_id = f"{run}.{k}"
        k += 1
        res = await remote.batch_result(batch_id)
        xfer.calls += 1
        if res is None:
            misses += 1
            continue
        misses = 0
        found.append(batch_id)
        if res.get("verified"):
            verified.append(k - 1)
        elif res["result"]:
            xfer.received += len(res["result"])
            await record_result(local, shape, batch_id, res["result"])
        else:
            lost.append(k - 1)
    if verified or lost:
        if await _has_journal(local, shape.table):
            await _record_journaled(local, remote, shape, xfer, verified, lost)
        elif verified:
            await _adopt_equal_rows(local, remote, shape, xfer)
    await _settled(local, shape.table, entry)
    if found:
        await remote.ack_batches(found)
    return len(found)


async def _has_journal(local: LocalStore, table: str) -> bool:
    rows = await local.fetch_rows(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND "
        "schema_name = 'ducksync' AND table_name = ?", [bulk_sent_name(table)])
    return bool(rows[0][0])


async def _record_journaled(local: LocalStore, remote: RemoteStore, shape: Shape,
                            xfer: Transfer, verified: list[int], lost: list[int]) -> None:
    """The base rows of the ``verified`` batches whose recording was lost, from the
    journal: ``(key, lh, lh, rk)`` of each row as sent (the verified checksum proved
    the remote hashes it alike), as :meth:`_BulkRun.record` would have written them;
    for the batches whose answer is ``lost``, ``(key, UNKNOWN, UNKNOWN, rk)``.

    Only the key's values are looked up, by the key hash computed here: in the local
    table, else (a key deleted here since) among the remote's keys, downloaded only
    then and hashed here (a lost batch proved nothing of how the remote hashes). A key
    on neither side is gone on both: no base row. Rows recorded before the crash are
    in the base already (skipped), so a recovery cut off itself is simply redone. A
    key two verified batches sent (moved between ranges, deleted remotely between the
    two) gets the later one's row, as the remote did.
    """
    key, t, base = shape.key, sb.quote_ident(shape.table), base_table(shape.table)
    ks = ", ".join(str(int(k)) for k in [*verified, *lost])
    lh = (f"CASE WHEN j.k IN ({', '.join(str(int(k)) for k in lost)}) THEN {UNKNOWN}::UBIGINT "
          "ELSE j.__lh END") if lost else "j.__lh"
    await local.execute(
        f"CREATE OR REPLACE TEMP TABLE __ds_unrec AS SELECT j.__rk, arg_max({lh}, j.k) AS "
        f"__lh FROM {bulk_sent_table(shape.table)} j ANTI JOIN {base} b ON "
        f"{base_rk_sql(key, 'b')} = j.__rk "
        f"WHERE j.k IN ({ks}) GROUP BY j.__rk")
    # rh = lh and rk = the key hash of the row's key (joined by it): both as derived
    await local.execute(
        f"INSERT INTO {base} SELECT {sb.cols_sql(key, 'l')}, "
        f"{stored_hashes_sql(key, 'u.__lh', None, None, 'l')} FROM "
        f"(SELECT {sb.cols_sql(key)}, {sb.key_hash_sql(key)} AS __rk FROM {t}) l "
        "JOIN __ds_unrec u ON u.__rk = l.__rk")
    left = (await local.fetch_rows(
        f"SELECT count(*) FROM __ds_unrec u ANTI JOIN {base} b ON {base_rk_sql(key, 'b')} "
        "= u.__rk"))[0][0]
    if left:
        hashes = await remote.bucket_hashes(shape.table, key, 1, [])
        xfer.calls += 1
        xfer.received += len(hashes)
        await local.ingest_arrow("__ds_adopt", hashes)
        # Matched by the key's values hashed here (the journal's hash), not by the
        # remote's own key hash: an engine that hashes otherwise would match nothing.
        # The base row keeps the journal's hash, as above (what a redone recovery skips).
        casts = ", ".join(f"CAST(r.{sb.quote_ident(k)} AS {shape.types[k]}) AS "
                          f"{sb.quote_ident(k)}" for k in key)
        await local.execute(
            f"INSERT INTO {base} SELECT {sb.cols_sql(key, 'r')}, "
            f"{stored_hashes_sql(key, 'u.__lh', None, None, 'r')} FROM "
            f"__ds_unrec u JOIN (SELECT {sb.cols_sql(key)}, {sb.key_hash_sql(key)} AS __lk "
            f"FROM (SELECT {casts} FROM __ds_adopt r)) r ON r.__lk = u.__rk "
            f"ANTI JOIN {base} b ON {base_rk_sql(key, 'b')} = u.__rk")
        await local.execute("DROP TABLE IF EXISTS __ds_adopt")
    await local.execute("DROP TABLE IF EXISTS __ds_unrec")


async def _adopt_equal_rows(local: LocalStore, remote: RemoteStore, shape: Shape,
                            xfer: Transfer) -> None:
    """Base entries for rows without one whose remote hash equals the local hash.

    Only for a run journaled by no one (written by a version from before journals):
    what its verified batches sent is unknown, so only rows both sides now hold alike
    get a base (the verified checksum proved both engines hash these values alike, so
    equal hashes mean equal content). Rows changed since on either side stay without
    a base: the next detection merges them by content, as a first sync would.
    """
    key, t, base = shape.key, sb.quote_ident(shape.table), base_table(shape.table)
    hashes = await remote.bucket_hashes(shape.table, key, 1, [])
    xfer.calls += 1
    xfer.received += len(hashes)
    await local.ingest_arrow("__ds_adopt", hashes)
    casts = ", ".join(f"CAST(r.{sb.quote_ident(k)} AS {shape.types[k]}) AS {sb.quote_ident(k)}"
                      for k in key)
    await local.execute(
        f"INSERT INTO {base} SELECT {sb.cols_sql(key, 'l')}, "
        f"{stored_hashes_sql(key, 'l.lh', None, 'r.__ds_rk', 'l')} FROM "
        f"(SELECT {sb.cols_sql(key)}, {sb.row_hash_sql(shape.types)} AS lh FROM {t}) l "
        f"JOIN (SELECT {casts}, r.__ds_rk::UBIGINT AS __ds_rk, r.__ds_rh::UBIGINT AS __ds_rh "
        f"FROM __ds_adopt r) r ON {sb.key_join_sql(key, 'l', 'r')} AND l.lh = r.__ds_rh "
        f"ANTI JOIN {base} b ON {sb.key_join_sql(key, 'l', 'b')}")
    await local.execute("DROP TABLE IF EXISTS __ds_adopt")
