"""The native stores run duckdb off the event loop; the push overlaps batches."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from engine_helpers import (
    Crash,
    FlakyLocal,
    do_sync,
    local_db,
    lose_next_answer,
    prune_answers,
    remote_db,
    rows,
    run,
)

from ducksync.engine.conflicts import resolve


def make(n: int = 1000) -> tuple[Any, Any]:
    a, r = local_db(), remote_db()
    a.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR)")
    a.con.execute(f"INSERT INTO t SELECT i, 'v' || i FROM range({n}) x(i)")
    return a, r


def test_concurrent_calls_on_one_store_are_serialised() -> None:
    a, _ = make(100)

    async def many() -> list[Any]:
        return list(await asyncio.gather(*[a.fetch_rows("SELECT count(*), ? FROM t", [i])
                                           for i in range(20)]))

    assert run(many()) == [[(100, i)] for i in range(20)]


def test_store_work_runs_off_the_event_loop_thread() -> None:
    a, _ = make(1)
    seen: list[int] = []

    async def probe() -> None:
        await a._call(lambda: seen.append(threading.get_ident()))

    run(probe())
    assert seen and seen[0] != threading.get_ident()


def test_pipelined_push_converges_and_records_every_batch() -> None:
    a, r = make(1000)
    rep = do_sync(a, r, batch_rows=90).tables[0]  # bulk path, 12 batches
    assert rep.converged and rep.pushed == 1000 and rows(a) == rows(r)
    a.con.execute("UPDATE t SET v = v || '!' WHERE id % 3 = 0")
    rep = do_sync(a, r, batch_rows=50).tables[0]  # general path, 7 batches
    assert rep.converged and rep.pushed == 334 and rows(a) == rows(r)
    assert a.con.execute("SELECT count(*) FROM ducksync.outbox").fetchone() == (0,)
    assert a.con.execute('SELECT count(*), count(DISTINCT id) FROM ducksync."base__t"'
                         ).fetchone() == (1000, 1000)


def test_local_failure_while_a_batch_is_in_flight_recovers() -> None:
    """The record of a batch fails while later ones are applied: all settle next time."""
    # fail on the base insert of the first batch's record (batches 2 and 3 are then
    # in flight: the third was sent as the first's answer came, before its record)
    class OnRecord(FlakyLocal):
        def _tick(self, sql: str) -> None:
            if 'INSERT INTO ducksync."base__t"' in sql:
                raise Crash()

    a, r = make(1000)
    rep = do_sync(OnRecord(a, fail_at=None), r, batch_rows=400).tables[0]
    assert rep.error and rep.error["name"] == "Crash"
    # all three committed remotely (those in flight waited for), none recorded:
    # the run's one outbox entry leads recover() to them
    assert r.con.execute("SELECT count(*) FROM t").fetchone() == (1000,)
    assert a.con.execute("SELECT count(*) FROM ducksync.outbox").fetchone() == (1,)
    rep = do_sync(a, r, batch_rows=400).tables[0]
    assert rep.converged and rows(a) == rows(r)
    assert a.con.execute('SELECT count(*), count(DISTINCT id) FROM ducksync."base__t"'
                         ).fetchone() == (1000, 1000)
    assert do_sync(a, r).tables[0].paths == ["local-unchanged", "remote-unchanged"]


def test_recovery_finds_a_batch_committed_after_one_that_failed() -> None:
    """Two batches in flight: the first fails (nothing written), the second commits.

    The run's recovery must not stop at the first missing id: ``<id>.1`` committed
    although ``<id>.0`` never did.
    """
    a, r = make(1000)
    inner = r.apply_batch
    failed: list[str] = []

    async def first_fails(table: str, key: list[str], batch_id: str, *args: Any,
                          **kw: Any) -> Any:
        if batch_id.endswith(".0") and not failed:
            failed.append(batch_id)
            raise Crash()  # before the remote wrote anything
        return await inner(table, key, batch_id, *args, **kw)

    r.apply_batch = first_fails
    rep = do_sync(a, r, batch_rows=400).tables[0]
    assert rep.error and rep.error["name"] == "Crash"
    assert r.con.execute("SELECT min(id), count(*) FROM t").fetchone() == (400, 400)
    rep = do_sync(a, r, batch_rows=400).tables[0]
    assert rep.converged and rows(a) == rows(r)
    assert a.con.execute("SELECT count(*) FROM ducksync.outbox").fetchone() == (0,)
    # found, so acknowledged: the remote keeps no answer for it
    assert r.con.execute("SELECT count(*) FROM ducksync.ledger_verified").fetchone() == (0,)
    assert a.con.execute('SELECT count(*), count(DISTINCT id) FROM ducksync."base__t"'
                         ).fetchone() == (1000, 1000)
    assert do_sync(a, r).tables[0].paths == ["local-unchanged", "remote-unchanged"]


def general_answer_lost(a: Any, r: Any) -> None:
    """One general-push batch committed remotely, its answer never arrived."""
    lose_next_answer(r)
    rep = do_sync(a, r).tables[0]
    assert rep.error and rep.error["name"] == "Crash"
    assert a.con.execute("SELECT count(*) FROM ducksync.outbox").fetchone() == (1,)


def test_general_answer_pruned_makes_its_keys_conflict_on_any_difference() -> None:
    """The remote pruned a general batch's lost answer (unacknowledged for days): what
    the batch did to each of its keys is unknown, so every difference on them is a
    conflict. Before, recovery read the empty answer as "recorded": the new row 100,
    deleted remotely since, was pushed again (a delete undone without a conflict), and
    row 3, set back remotely to its old value, was overwritten silently. Keys alike on
    both sides (4 updated, 2 deleted) settle quietly; row 5, never in the batch, is
    pulled as usual."""
    a, r = make(10)
    do_sync(a, r)
    a.con.execute("INSERT INTO t VALUES (100, 'new')")
    a.con.execute("UPDATE t SET v = 'mine' WHERE id IN (1, 3, 4)")
    a.con.execute("DELETE FROM t WHERE id = 2")
    general_answer_lost(a, r)
    prune_answers(r)
    (batch_id,) = a.con.execute("SELECT batch_id FROM ducksync.outbox").fetchone()
    pruned = run(r.batch_result(batch_id))
    assert pruned is not None and pruned["result"] == b"" and not pruned.get("verified")
    r.con.execute("DELETE FROM t WHERE id IN (100, 1)")
    r.con.execute("UPDATE t SET v = 'v3' WHERE id = 3")  # back to what it was
    r.con.execute("UPDATE t SET v = 'theirs' WHERE id = 5")
    rep = do_sync(a, r, policy="manual").tables[0]
    assert a.con.execute("SELECT key_text, local_deleted, remote_deleted FROM "
                         "ducksync.conflicts ORDER BY key_text::INTEGER").fetchall() == [
        ("1", False, True), ("3", False, False), ("100", False, True)]
    assert (rep.conflicts, rep.pushed, rep.pulled) == (3, 0, 1)
    assert dict(rows(r)) == {0: "v0", 3: "v3", 4: "mine", 5: "theirs", 6: "v6", 7: "v7",
                             8: "v8", 9: "v9"}
    assert a.con.execute("SELECT count(*) FROM ducksync.outbox").fetchone() == (0,)
    assert a.con.execute('SELECT count(*) FROM ducksync."push_sent__t"').fetchone() == (0,)
    for key in ("1", "3", "100"):
        run(resolve(a, "t", key, "local"))
    assert do_sync(a, r).converged and rows(a) == rows(r)
    assert dict(rows(r)) == {0: "v0", 1: "mine", 3: "mine", 4: "mine", 5: "theirs",
                             6: "v6", 7: "v7", 8: "v8", 9: "v9", 100: "new"}


def test_a_batch_above_the_byte_cap_is_narrowed_and_journaled_whole() -> None:
    """Each general batch is one export of a ``__ds_seq`` range (so the journal names its
    keys by that range): a range above ``batch_bytes`` is narrowed and exported again."""
    a, r = make(1000)
    do_sync(a, r)
    a.con.execute("UPDATE t SET v = repeat('x', 200) || id")
    sizes: list[int] = []
    inner = r.apply_batch

    async def sized(table: str, key: list[str], batch_id: str, payload: bytes, *args: Any,
                    **kw: Any) -> Any:
        sizes.append(len(payload))
        # its own cursor: the local side records the previous batch meanwhile
        journaled = a.con.cursor().execute('SELECT count(*) FROM ducksync."push_sent__t" '
                                           "WHERE batch_id = ?", [batch_id]).fetchone()[0]
        assert journaled > 0 and journaled * 200 < 50_000  # committed before it left
        return await inner(table, key, batch_id, payload, *args, **kw)

    r.apply_batch = sized
    rep = do_sync(a, r, batch_bytes=50_000).tables[0]
    assert rep.converged and rep.pushed == 1000 and rows(a) == rows(r)
    assert len(sizes) >= 5 and max(sizes) <= 50_000
    assert a.con.execute("SELECT count(*) FROM ducksync.outbox").fetchone() == (0,)
    assert a.con.execute('SELECT count(*) FROM ducksync."push_sent__t"').fetchone() == (0,)


@pytest.mark.parametrize("before", ["no journal table", "no journal rows"])
def test_a_pruned_batch_from_before_the_journal_settles_the_old_way(before: str) -> None:
    """An outbox entry written by a version without the push journal (no table, or a
    table without rows for it) is settled as before: the empty answer read as
    recorded, the rows then merged by content."""
    a, r = make(10)
    do_sync(a, r)
    a.con.execute("INSERT INTO t VALUES (100, 'new')")
    general_answer_lost(a, r)
    prune_answers(r)
    a.con.execute('DROP TABLE ducksync."push_sent__t"' if before == "no journal table"
                  else 'DELETE FROM ducksync."push_sent__t"')
    rep = do_sync(a, r).tables[0]
    assert rep.converged and rep.conflicts == 0 and rows(a) == rows(r)
    assert a.con.execute("SELECT count(*) FROM ducksync.outbox").fetchone() == (0,)
