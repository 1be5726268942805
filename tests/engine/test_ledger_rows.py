"""Bulk answers are kept as rows (ducksync."ledger_rows__<table>"), not as one BLOB."""

from __future__ import annotations

from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
from engine_helpers import remote_db, run

from ducksync.stores._arrow import from_ipc, to_ipc


def batch(ids: list[int], expect: Any = None) -> bytes:
    n = len(ids)
    return to_ipc(pa.table({
        "id": pa.array(ids, pa.int64()), "v": pa.array([f"v{i}" for i in ids]),
        "__ds_op": pa.array(["U"] * n), "__ds_expect": pa.array([expect] * n, pa.uint64()),
        "__ds_lh": pa.array([i * 7 + 1 for i in ids], pa.uint64())}))


def sorted_rows(ipc: bytes) -> list[dict[str, Any]]:
    return sorted(from_ipc(ipc).to_pylist(), key=lambda r: r["id"])


def test_bulk_answer_is_stored_as_rows_and_replayed_identically() -> None:
    r = remote_db()
    r.con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR)")
    first = run(r.apply_batch("t", ["id"], "b1", batch(list(range(500)))))
    assert not first["replayed"]
    assert r.con.execute('SELECT count(*) FROM ducksync."ledger_rows__t"').fetchone() == (500,)
    assert r.con.execute("SELECT count(*) FROM ducksync.ledger_results").fetchone() == (0,)
    again = run(r.apply_batch("t", ["id"], "b1", batch(list(range(500)))))
    assert again["replayed"] and sorted_rows(again["result"]) == sorted_rows(first["result"])
    stored = run(r.batch_result("b1"))
    assert stored is not None and sorted_rows(stored["result"]) == sorted_rows(first["result"])
    assert from_ipc(stored["result"]).schema.names == from_ipc(first["result"]).schema.names
    assert r.con.execute("SELECT count(*) FROM t").fetchone() == (500,)
    run(r.ack_batches(["b1"]))
    assert r.con.execute('SELECT count(*) FROM ducksync."ledger_rows__t"').fetchone() == (0,)
    acked = run(r.batch_result("b1"))
    assert acked is not None and acked["result"] == b""  # known id, answer dropped
    assert run(r.batch_result("never")) is None
    # a CAS (non-bulk) answer is kept as rows too (one store, one format)
    conflict = run(r.apply_batch("t", ["id"], "b2", batch([1])))
    assert from_ipc(conflict["result"]).column("__ds_status").to_pylist() == ["conflict"]
    assert r.con.execute("SELECT count(*) FROM ducksync.ledger_results").fetchone() == (0,)
    assert run(r.batch_result("b2"))["result"] == conflict["result"]  # type: ignore[index]


def test_changed_key_shape_falls_back_to_a_blob() -> None:
    r = remote_db()
    r.con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR)")
    run(r.apply_batch("t", ["id"], "b1", batch([1, 2])))
    r.con.execute("DROP TABLE t")
    r.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR)")  # key type changed
    out = run(r.apply_batch("t", ["id"], "b2", batch([3, 4])))
    assert not out["replayed"]
    assert r.con.execute("SELECT count(*) FROM ducksync.ledger_results").fetchone() == (1,)
    stored = run(r.batch_result("b2"))
    assert stored is not None and sorted_rows(stored["result"]) == sorted_rows(out["result"])
    old = run(r.batch_result("b1"))
    assert old is not None and [x["id"] for x in sorted_rows(old["result"])] == [1, 2]


def test_unacknowledged_rows_are_pruned_with_the_blobs() -> None:
    r = remote_db()
    r.con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR)")
    run(r.apply_batch("t", ["id"], "old", batch([1, 2])))
    r.con.execute('UPDATE ducksync."ledger_rows__t" SET __ds_at = now()::TIMESTAMP - '
                  "INTERVAL 30 DAY")
    r.con.execute("UPDATE ducksync.ledger_rowsets SET applied_at = now()::TIMESTAMP - "
                  "INTERVAL 30 DAY")
    run(r.apply_batch("t", ["id"], "new", batch([3])))
    run(r.ack_batches(["other"]))  # pruning runs with the run's ack, outside applies
    assert r.con.execute('SELECT DISTINCT __ds_batch FROM ducksync."ledger_rows__t"'
                         ).fetchall() == [("new",)]
    pruned = run(r.batch_result("old"))
    assert pruned is not None and pruned["result"] == b""
