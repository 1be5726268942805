"""The fast paths: bulk initial push, whole-table shortcuts, append-only watermark.

Each must take its shortcut only when it is provably safe and otherwise fall back to
the general path with the same outcome.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from engine_helpers import do_sync, local_db, lose_next_answer, remote_db, rows, run

from ducksync.engine import detect
from ducksync.engine.bulk import _IN_FLIGHT, _ROW_GROUP, _ranges
from ducksync.engine.conflicts import resolve
from ducksync.engine.state import base_rh_sql, base_rk_sql
from ducksync.stores._arrow import from_ipc, to_ipc


def make(n: int = 1000, *, pk: bool = True) -> tuple[Any, Any]:
    a, r = local_db(), remote_db()
    a.con.execute("CREATE TABLE t (id INTEGER" + (" PRIMARY KEY" if pk else "")
                  + ", v VARCHAR, ts INTEGER)")
    a.con.execute(f"INSERT INTO t SELECT i, 'v' || i, i FROM range({n}) x(i)")
    return a, r


def base_rows(store: Any) -> list[tuple[Any, ...]]:
    """The base's rows as read: key, local hash and the remote hashes (NULL: derived)."""
    return list(store.con.execute(
        f'SELECT id, __lh, {base_rh_sql()}, {base_rk_sql(["id"])} FROM ducksync."base__t" '
        'ORDER BY ALL').fetchall())


def test_swapped_values_are_seen() -> None:
    """Regression: XOR-composed row hashes made a swap between two rows invisible."""
    a, r = make(2)
    do_sync(a, r)
    r.con.execute("UPDATE t SET v = CASE id WHEN 0 THEN 'v1' ELSE 'v0' END")
    assert do_sync(a, r).tables[0].pulled == 2
    assert rows(a) == rows(r)
    a.con.execute("UPDATE t SET v = CASE id WHEN 0 THEN 'v0' ELSE 'v1' END")
    assert do_sync(a, r).tables[0].pushed == 2
    assert rows(a) == rows(r)


def test_bulk_initial_push_builds_the_same_base_as_the_general_path() -> None:
    a, r = make()
    rep = do_sync(a, r).tables[0]
    assert rep.paths == ["bulk-push"] and rep.pushed == 1000 and rep.converged
    assert rows(a) == rows(r)
    assert "push.remote_apply" in rep.timings
    # the general path (pushing into a non-empty remote) must agree on the base
    b, r2 = make()
    r2.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR, ts INTEGER)")
    r2.con.execute("INSERT INTO t VALUES (5000, 'other', 0)")
    rep2 = do_sync(b, r2).tables[0]
    assert "bulk-push" not in rep2.paths and rep2.pushed == 1000
    assert base_rows(a) == [x for x in base_rows(b) if x[0] != 5000]
    noop = do_sync(a, r).tables[0]
    assert noop.paths == ["local-unchanged", "remote-unchanged"] and noop.remote_calls == 1


def test_bulk_push_in_ranges_with_verified_answers() -> None:
    """Four ranges of ≤ 300 rows: 4 applies + 1 ack (no checksum: this sync created
    the remote table), every answer compact (the remote agreed with the predicted
    hashes), and the base equals the one the remote's own hashes build (the general
    path's, tested above)."""
    a, r = make()
    rep = do_sync(a, r, batch_rows=300).tables[0]
    assert rep.paths == ["bulk-push"] and rep.remote_calls == 4 + 1
    assert rep.bytes_received < 1000  # no per-row answers came back
    assert rows(a) == rows(r) and len(base_rows(a)) == 1000
    assert do_sync(a, r).tables[0].paths == ["local-unchanged", "remote-unchanged"]


def test_bulk_ranges_ramp_up_to_whole_row_groups() -> None:
    """One row group first, then twice as many up to the batch's width: the remote
    starts on a small batch while the next is prepared. Contiguous, covering every
    rowid; a width under a row group stays even."""
    a, r = make(5 * _ROW_GROUP + 100)
    got = run(_ranges(a, "t", "SELECT * FROM t", 4 * _ROW_GROUP, 1 << 40))
    assert [hi - lo for lo, hi in got] == [_ROW_GROUP, 2 * _ROW_GROUP, 4 * _ROW_GROUP]
    assert got[0][0] == 0 and got[-1][1] > 5 * _ROW_GROUP + 99
    assert all(prev[1] == nxt[0] for prev, nxt in pairwise(got))
    even = run(_ranges(a, "t", "SELECT * FROM t", 300, 1 << 40))
    assert {hi - lo for lo, hi in even} == {300}
    rep = do_sync(a, r, batch_rows=4 * _ROW_GROUP).tables[0]
    assert rep.paths == ["bulk-push"] and rep.pushed == 5 * _ROW_GROUP + 100
    assert rep.remote_calls == 3 + 1  # three ramped batches, the ack
    assert rows(a) == rows(r)


def test_bulk_push_into_an_existing_table_asks_whether_it_is_empty() -> None:
    """Only a table this sync created is known empty; one that exists is asked (one
    checksum call), and the answer decides the path."""
    a, r = make()
    r.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR, ts INTEGER)")
    rep = do_sync(a, r, batch_rows=300).tables[0]
    assert rep.paths == ["bulk-push"] and rep.remote_calls == 1 + 4 + 1
    b, r2 = make()
    r2.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR, ts INTEGER)")
    r2.con.execute("INSERT INTO t VALUES (5000, 'other', 0)")
    assert "bulk-push" not in do_sync(b, r2, batch_rows=300).tables[0].paths


def test_bulk_refuses_keys_written_meanwhile() -> None:
    """The remote's "must be absent" check runs inside its transaction: a concurrent
    writer's row becomes a conflict (CAS path), never an overwrite."""
    a, r = make()
    inner = r.apply_batch

    async def racing(*args: Any, **kw: Any) -> Any:
        r.con.execute("INSERT INTO t VALUES (7, 'theirs', 0)")  # between check and apply
        r.apply_batch = inner
        return await inner(*args, **kw)

    r.apply_batch = racing
    rep = do_sync(a, r, "push").tables[0]
    assert rep.paths == ["bulk-push"] and rep.cas_retries == 1 and rep.pushed == 999
    assert r.con.execute("SELECT v FROM t WHERE id = 7").fetchone() == ("theirs",)
    rep = do_sync(a, r, policy="remote-wins").tables[0]
    assert rep.conflicts == 1 and rep.converged
    assert rows(a) == rows(r)


@pytest.mark.parametrize("verified", [True, False])
def test_a_key_sent_twice_in_one_bulk_run_gets_one_base_row(
        monkeypatch: pytest.MonkeyPatch, verified: bool) -> None:
    """A key moved to a later range mid-run (DuckDB renumbering ``rowid``s when a
    checkpoint compacts deletions; here: overlapping ranges) is sent twice, and the
    remote deleted it in between, so its primary key let the second copy in. The base
    must hold the key once (the later copy, as the remote does): before, the normal
    path inserted both, and the base's two rows for one key cancelled in its XOR sums.
    ``verified=False``: an engine hashing otherwise, every range answered in full."""
    from ducksync.engine import bulk
    a, r = make(4)

    async def overlapping(*args: Any) -> list[tuple[int, int]]:
        return [(0, 2), (1, 4)]  # key 1 in both

    monkeypatch.setattr(bulk, "_ranges", overlapping)
    monkeypatch.setattr(bulk, "_IN_FLIGHT", 1)  # range 1 leaves once range 0 committed
    inner = r.apply_batch

    async def deleted_between(table: str, key: Any, batch_id: str, payload: bytes,
                              **kw: Any) -> Any:
        if batch_id.endswith(".1"):
            r.con.execute("DELETE FROM t WHERE id = 1")  # another writer, between batches
            if not verified:
                kw["checksum"] = "1"  # a prediction that fails: answered in full
        return await inner(table, key, batch_id, payload, **kw)

    r.apply_batch = deleted_between
    rep = do_sync(a, r).tables[0]
    assert rep.paths == ["bulk-push"] and rep.converged and rows(a) == rows(r)
    assert a.con.execute('SELECT count(*), count(DISTINCT id) FROM ducksync."base__t"'
                         ).fetchone() == (4, 4)
    r.apply_batch = inner
    assert do_sync(a, r).tables[0].paths == ["local-unchanged", "remote-unchanged"]
    # with two base rows for key 1, every later sync of the table failed
    a.con.execute("UPDATE t SET v = 'mine' WHERE id = 1")
    rep = do_sync(a, r).tables[0]
    assert rep.error is None and rep.pushed == 1 and rows(a) == rows(r)


def test_remote_bulk_path_without_primary_key_needs_an_empty_table() -> None:
    r = remote_db()
    r.con.execute("CREATE TABLE t (id INTEGER, v VARCHAR)")
    r.con.execute("INSERT INTO t VALUES (1, 'x')")
    src = local_db()
    batch = to_ipc(src.con.sql("SELECT * FROM (VALUES (1, 'a'), (2, 'b')) v(id, v), "
                               "(SELECT 'U' AS __ds_op, NULL::UBIGINT AS __ds_expect, "
                               "1::UBIGINT AS __ds_lh)").to_arrow_table())
    res = run(r.apply_batch("t", ["id"], "b1", batch))
    got = sorted(zip(*(from_ipc(res["result"]).column(c).to_pylist()
                       for c in ("id", "__ds_status")), strict=True))
    assert got == [(1, "conflict"), (2, "ok")]
    assert r.con.execute("SELECT * FROM t ORDER BY ALL").fetchall() == [(1, "x"), (2, "b")]
    again = run(r.apply_batch("t", ["id"], "b1", batch))
    assert again["replayed"] and again["result"] == res["result"]


def test_watermark_pull_moves_only_new_rows() -> None:
    a, r = make(5000)
    do_sync(a, r, watermark="id")  # bulk push, then the cursor is recorded
    r.con.execute("INSERT INTO t SELECT i, 'new', i FROM range(5000, 5010) x(i)")
    rep = do_sync(a, r, watermark="id").tables[0]
    assert "append-pull" in rep.paths and rep.pulled == 10 and rep.converged
    assert rep.remote_calls == 2  # whole-table checksum + rows after the cursor
    assert rows(a) == rows(r)
    r.con.execute("INSERT INTO t SELECT i, 'new', i FROM range(5010, 5020) x(i)")
    slow = do_sync(local_copy(a), remote_copy(r)).tables[0]  # same change, no hint
    assert slow.bytes_received > 2 * rep.bytes_received


def local_copy(a: Any) -> Any:
    """A second client in the same state as ``a`` (its table and its ducksync schema)."""
    b = local_db()
    b.con.execute("CREATE SCHEMA ducksync")
    for src, dst in (("t", "t"), *((f"ducksync.{x}", f"ducksync.{x}") for x in
                                   ("tables", "outbox", "conflicts", "conflict_log",
                                    '"base__t"'))):
        b.con.register("s", a.con.sql(f"SELECT * FROM {src}").to_arrow_table())
        b.con.execute(f"CREATE TABLE {dst} AS SELECT * FROM s")
        b.con.unregister("s")
    b.con.execute("ALTER TABLE t ADD PRIMARY KEY (id)")
    return b


def remote_copy(r: Any) -> Any:
    c = remote_db()
    c.con.register("s", r.con.sql("SELECT * FROM t").to_arrow_table())
    c.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR, ts INTEGER)")
    c.con.execute("INSERT INTO t SELECT * FROM s")
    return c


def test_watermark_falls_back_on_update_or_delete() -> None:
    a, r = make(2000)
    do_sync(a, r, watermark="id")
    r.con.execute("INSERT INTO t VALUES (3000, 'new', 0)")
    r.con.execute("UPDATE t SET v = 'changed' WHERE id = 10")  # below the cursor
    r.con.execute("DELETE FROM t WHERE id = 11")
    rep = do_sync(a, r, watermark="id").tables[0]
    assert "append-fallback" in rep.paths and "append-pull" not in rep.paths
    assert rep.pulled == 3 and rep.converged and rows(a) == rows(r)
    # local side: an update below the cursor is seen too
    a.con.execute("INSERT INTO t VALUES (3001, 'mine', 0)")
    a.con.execute("UPDATE t SET v = 'mine' WHERE id = 12")
    rep = do_sync(a, r, watermark="id").tables[0]
    assert "append-local" not in rep.paths and rep.pushed == 2 and rows(a) == rows(r)
    a.con.execute("INSERT INTO t VALUES (3002, 'mine', 0)")
    rep = do_sync(a, r, watermark="id").tables[0]
    assert "append-local" in rep.paths and rep.pushed == 1 and rows(a) == rows(r)


def test_watermark_on_an_updated_at_column_carries_updates() -> None:
    a, r = make(500)
    do_sync(a, r, watermark="ts")
    r.con.execute("UPDATE t SET v = 'bumped', ts = 10000 WHERE id IN (3, 4)")
    r.con.execute("INSERT INTO t VALUES (900, 'new', 10001)")
    rep = do_sync(a, r, watermark="ts").tables[0]
    assert "append-pull" in rep.paths and rep.pulled == 3 and rows(a) == rows(r)


def test_watermark_column_must_exist() -> None:
    a, r = make(10)
    do_sync(a, r)
    rep = do_sync(a, r, watermark="nope").tables[0]
    assert rep.error and rep.error["name"] == "SchemaMismatchError"


def test_scattered_remote_changes_move_little(monkeypatch: pytest.MonkeyPatch) -> None:
    a, r = make(50_000)
    do_sync(a, r)
    r.con.execute("UPDATE t SET ts = ts + 1 WHERE id % 1000 = 7")  # 50 scattered rows
    # the descent binds its bucket lists as text: the native client converts a list
    # parameter element by element, dearer than the level's query (docs/benchmarks.md);
    # a key's column names (a list of a few) are cheap
    bound: list[int] = []
    run_sql = a._run
    monkeypatch.setattr(a, "_run", lambda sql, params=(): (
        bound.extend(len(p) for p in params if isinstance(p, list)), run_sql(sql, params))[1])
    rep = do_sync(a, r).tables[0]
    assert rep.pulled == 50 and rows(a) == rows(r)
    # the (key, rk, rh) list of the whole table would be 24 B/row (1.2 MB); the descent
    # narrows it down until the differing buckets' hashes cost less than one more
    # round trip would (detect.ROUND_TRIP_BYTES), then fetches those
    assert rep.bytes_sent + rep.bytes_received < detect.ROUND_TRIP_BYTES + 1000 * 50
    assert rep.remote_calls <= 5  # whole-table checksum, two levels, hashes, rows
    assert max(bound, default=0) <= 4, bound


def test_a_small_table_skips_the_descent() -> None:
    """Its hashes cost less than a round trip: fetched at once, no checksum levels."""
    a, r = make(2_000)
    do_sync(a, r)
    r.con.execute("UPDATE t SET ts = ts + 1 WHERE id % 100 = 7")
    rep = do_sync(a, r).tables[0]
    assert rep.pulled == 20 and rows(a) == rows(r)
    assert rep.remote_calls == 3  # whole-table checksum (the survey), hashes, rows


def test_values_swapped_between_columns_are_seen() -> None:
    """Regression: hash(name, value) is f(name) XOR g(value); unmixed, a swap cancelled."""
    a, r = local_db(), remote_db()
    a.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER, y INTEGER)")
    a.con.execute("INSERT INTO t VALUES (1, 10, 20), (2, 30, 40)")
    do_sync(a, r)
    a.con.execute("UPDATE t SET x = y, y = x WHERE id = 1")
    assert do_sync(a, r).tables[0].pushed == 1 and rows(a) == rows(r)
    r.con.execute("UPDATE t SET x = y, y = x WHERE id = 2")
    assert do_sync(a, r).tables[0].pulled == 1 and rows(a) == rows(r)


@pytest.mark.parametrize("journal", [True, False])
def test_bulk_push_crash_after_the_remote_committed_recovers_exactly_once(journal: bool) -> None:
    """``journal=False``: a run left by a version from before the journal settles too."""
    a, r = make()
    lose_next_answer(r)
    rep = do_sync(a, r, batch_rows=400).tables[0]
    assert rep.error and rep.error["name"] == "Crash"
    # the batches in flight when the first answer was lost committed too
    assert r.con.execute("SELECT count(*) FROM t").fetchone() == (400 * _IN_FLIGHT,)
    assert a.con.execute("SELECT count(*) FROM ducksync.outbox").fetchone() == (1,)
    if not journal:
        a.con.execute('DROP TABLE ducksync."bulk_sent__t"')
    # recover() settles the run (from the journal, else by content: nothing changed)
    rep = do_sync(a, r, batch_rows=400).tables[0]
    assert rep.converged and rows(a) == rows(r)
    assert base_rows(a) == sorted(base_rows(a)) and len(base_rows(a)) == 1000
    assert a.con.execute('SELECT count(DISTINCT id) FROM ducksync."base__t"').fetchone() == (
        1000,)
    assert do_sync(a, r).tables[0].paths == ["local-unchanged", "remote-unchanged"]


def bulk_answer_lost() -> tuple[Any, Any]:
    """Five rows pushed in ranges 0-1, 2-3, 4: the first two committed remotely, their
    answers never arrived, the last never left."""
    a, r = make(5)
    lose_next_answer(r)
    assert do_sync(a, r, batch_rows=2).tables[0].error is not None
    assert r.con.execute("SELECT count(*) FROM t").fetchone() == (2 * _IN_FLIGHT,)
    return a, r


def test_bulk_answer_pruned_makes_its_keys_conflict_on_any_difference() -> None:
    """The remote pruned the lost answers (unacknowledged for days): the batches did
    commit, but what each did to a key is unknown, so every difference on their keys
    is a conflict (here: an update meeting a delete, and a remote update). A key alike
    on both sides settles quietly; the range that never left is a plain insert."""
    a, r = bulk_answer_lost()
    r.con.execute("DELETE FROM ducksync.ledger_verified")  # what pruning leaves
    a.con.execute("UPDATE t SET v = 'mine' WHERE id = 0")
    r.con.execute("DELETE FROM t WHERE id = 0")
    r.con.execute("UPDATE t SET v = 'theirs' WHERE id = 2")
    rep = do_sync(a, r, policy="manual").tables[0]
    assert (rep.conflicts, rep.pending_conflicts, rep.pushed, rep.pulled) == (2, 2, 1, 0)
    assert a.con.execute("SELECT key_text, local_deleted, remote_deleted FROM "
                         "ducksync.conflicts ORDER BY ALL").fetchall() == [
        ("0", False, True), ("2", False, False)]
    assert rows(r) == [(1, "v1", 1), (2, "theirs", 2), (3, "v3", 3), (4, "v4", 4)]
    for key, take in (("0", "local"), ("2", "remote")):
        run(resolve(a, "t", key, take))
    assert do_sync(a, r).converged and rows(a) == rows(r)
    assert rows(r) == [(0, "mine", 0), (1, "v1", 1), (2, "theirs", 2), (3, "v3", 3),
                       (4, "v4", 4)]


def test_bulk_answer_pruned_finds_keys_deleted_here_on_a_remote_that_hashes_otherwise() -> None:
    """A key of a pruned batch deleted here since is found among the remote's keys by
    its values, hashed here: a remote engine whose key hashes differ from this one's
    (here its ``__ds_rk`` altered in transit) still gives it a base row, so the local
    delete meets the remote's row as a conflict. Before, the lookup compared the two
    engines' hashes: no base row, and the row came back here as a plain pull."""
    import pyarrow as pa  # type: ignore[import-untyped]

    a, r = bulk_answer_lost()
    r.con.execute("DELETE FROM ducksync.ledger_verified")  # what pruning leaves
    inner = r.bucket_hashes

    async def hashed_otherwise(*args: Any, **kw: Any) -> bytes:
        got = from_ipc(await inner(*args, **kw))
        at = got.schema.get_field_index("__ds_rk")
        other = pa.array([(int(v) ^ 0x5A5A) & (2**64 - 1) for v in got.column(at).to_pylist()],
                         type=got.schema.field(at).type)
        return to_ipc(got.set_column(at, got.schema.field(at), other))

    r.bucket_hashes = hashed_otherwise
    a.con.execute("DELETE FROM t WHERE id = 1")
    rep = do_sync(a, r, policy="manual").tables[0]
    assert rep.pulled == 0 and (1,) not in [row[:1] for row in rows(a)]
    assert ("1", True, False) in a.con.execute(
        "SELECT key_text, local_deleted, remote_deleted FROM ducksync.conflicts").fetchall()
    assert (1, "v1", 1) in rows(r)  # the remote keeps it until the conflict is resolved


def test_bulk_answer_lost_then_both_sides_write_is_recorded_from_the_journal() -> None:
    """The verified batch's base is rebuilt exactly although both sides wrote its rows
    since: each write is then a change against it, and an update meeting a delete is a
    conflict. Before, recovery adopted only rows still equal on both sides, and the
    rest merged as in a first sync: the remote's delete of row 0 lost to the local
    update without a conflict, row 1 (deleted here) came back, row 2 (updated there)
    became a conflict (property test example ``LOST_BULK_ANSWER``). The run's last
    range never left: its row is a plain insert, neither a conflict nor deleted."""
    a, r = bulk_answer_lost()
    a.con.execute("UPDATE t SET v = 'mine' WHERE id = 0")
    r.con.execute("DELETE FROM t WHERE id = 0")  # update vs delete: a conflict
    a.con.execute("DELETE FROM t WHERE id = 1")  # deleted here only: deleted there
    r.con.execute("UPDATE t SET v = 'theirs' WHERE id = 2")  # changed there only: pulled
    a.con.execute("DELETE FROM t WHERE id = 3")
    r.con.execute("DELETE FROM t WHERE id = 3")  # gone on both sides
    rep = do_sync(a, r, policy="manual").tables[0]
    assert (rep.conflicts, rep.pending_conflicts, rep.pushed, rep.pulled) == (1, 1, 2, 1)
    assert a.con.execute("SELECT key_text, local_deleted, remote_deleted FROM "
                         "ducksync.conflicts").fetchall() == [("0", False, True)]
    assert rows(a) == [(0, "mine", 0), (2, "theirs", 2), (4, "v4", 4)]
    assert rows(r) == [(2, "theirs", 2), (4, "v4", 4)]
    # the run's outbox entry and its journal are gone
    assert a.con.execute("SELECT count(*) FROM ducksync.outbox").fetchone() == (0,)
    assert a.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE "
                         "'bulk_sent__%'").fetchone() == (0,)


@pytest.mark.slow  # ~10 syncs; the fast property test covers local crashes too
def test_bulk_push_crash_in_the_local_record_recovers() -> None:
    import contextlib

    from engine_helpers import Crash, FlakyLocal
    class Recording(FlakyLocal):
        def _tick(self, sql: str) -> None:
            super()._tick(sql)
            self.seen.append(sql)

    probe, r0 = make()
    counter = Recording(probe, fail_at=None)
    counter.seen = []
    do_sync(counter, r0, batch_rows=400)
    first = next(i for i, q in enumerate(counter.seen) if "ducksync.outbox VALUES" in q)
    done = next(i for i, q in enumerate(counter.seen)
                if q.startswith("DELETE FROM ducksync.outbox") and i > first)
    # every local statement of the run: outbox entry, ranges, range copies and
    # predictions, base inserts, the outbox delete (3 batches of 400)
    assert done - first > 10
    for fail_at in range(first + 1, done + 2):
        b, r2 = make()
        with contextlib.suppress(Crash):
            do_sync(FlakyLocal(b, fail_at=fail_at), r2, batch_rows=400)
        rep = do_sync(b, r2, batch_rows=400).tables[0]
        assert rep.converged and rows(b) == rows(r2), fail_at
        assert b.con.execute('SELECT count(*), count(DISTINCT id) FROM ducksync."base__t"'
                             ).fetchone() == (1000, 1000), fail_at
