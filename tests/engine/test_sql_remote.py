"""SqlRemoteStore's own promises: the ledger it shares with the native store, the BLOB
fallback, the compact (``verified``) answer as the native store gives it, ``database``,
and scalar-only parameters."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import ScalarConnector, run

from ducksync.engine import sqlbuild as sb
from ducksync.errors import ProtocolError
from ducksync.stores._arrow import from_ipc, to_ipc
from ducksync.stores.native import NativeRemoteStore
from ducksync.stores.sql_remote import SqlRemoteStore


def batch(con: Any, values: str = "(1, 'a'), (2, 'b')", expect: str = "NULL") -> bytes:
    return to_ipc(con.sql(f"SELECT * FROM (VALUES {values}) v(id, v), (SELECT 'U' AS __ds_op, "
                          f"{expect}::UBIGINT AS __ds_expect, 7::UBIGINT AS __ds_lh)")
                  .to_arrow_table())


def stores(path: str) -> tuple[SqlRemoteStore, NativeRemoteStore, Any]:
    connector = ScalarConnector(spec=path)
    sql = SqlRemoteStore(connector=connector)
    native = NativeRemoteStore(spec=":memory:", con=connector.con, threaded=False)
    run(sql.create_table("t", [{"name": "id", "type": "INTEGER", "nullable": False},
                               {"name": "v", "type": "VARCHAR", "nullable": True}], ["id"]))
    return sql, native, connector.con


TYPES = {"id": "INTEGER", "v": "VARCHAR"}


def predicted(con: Any, values: str = "(1, 'a'), (2, 'b')") -> str:
    """The client's prediction: checksum of the rows' hashes once written as (INTEGER,
    VARCHAR), as the engine sends it."""
    return str(con.execute(
        f"SELECT {sb.checksum_sql(sb.key_hash_sql(['id']), sb.row_hash_sql(TYPES))}"
        f" FROM (SELECT id::INTEGER AS id, v::VARCHAR AS v FROM (VALUES {values}) x(id, v))"
    ).fetchall()[0][0])


def test_both_stores_read_each_others_ledger(tmp_path: Any) -> None:
    sql, native, con = stores(str(tmp_path / "r.duckdb"))
    first = run(sql.apply_batch("t", ["id"], "s1", batch(con), checksum="123"))
    assert not first["replayed"] and not first["verified"]  # wrong prediction: full answer
    assert run(native.batch_result("s1"))["result"] == first["result"]  # type: ignore[index]
    update = batch(con, "(1, 'A')", expect="NULL")  # expected absent, but id 1 exists
    second = run(native.apply_batch("t", ["id"], "n1", update))
    again = run(sql.apply_batch("t", ["id"], "n1", update))
    assert again["replayed"] and again["result"] == second["result"]
    assert from_ipc(again["result"]).column("__ds_status").to_pylist() == ["conflict"]
    run(sql.ack_batches(["s1", "n1"]))
    for store in (sql, native):  # acknowledged: the ids stay, the answers are gone
        assert [run(store.batch_result(b))["result"] for b in ("s1", "n1")] == [b"", b""]  # type: ignore[index]
    assert run(sql.batch_result("never")) is None


def test_verified_answer_is_compact_replayed_and_shared(tmp_path: Any) -> None:
    sql, native, con = stores(str(tmp_path / "r.duckdb"))
    first = run(sql.apply_batch("t", ["id"], "s1", batch(con), checksum=predicted(con)))
    assert first == {"batch_id": "s1", "replayed": False, "result": b"", "verified": True}
    assert con.execute("SELECT checksum::VARCHAR FROM ducksync.ledger_verified").fetchall() \
        == [(predicted(con),)]
    assert con.execute("SELECT count(*) FROM ducksync.ledger_rowsets").fetchall() == [(0,)]
    again = run(sql.apply_batch("t", ["id"], "s1", batch(con), checksum=predicted(con)))
    assert again == {"batch_id": "s1", "replayed": True, "result": b"", "verified": True}
    assert run(native.batch_result("s1")) == again  # the native store reads it alike
    # and the other way round: a compact answer of the native store, read by this one
    values = "(3, 'c'), (4, 'd')"
    n1 = run(native.apply_batch("t", ["id"], "n1", batch(con, values),
                                checksum=predicted(con, values)))
    assert n1["verified"] and n1["result"] == b""
    assert run(sql.batch_result("n1")) == {"batch_id": "n1", "replayed": True,
                                           "result": b"", "verified": True}
    run(sql.ack_batches(["s1"]))
    run(native.ack_batches(["n1"]))
    assert con.execute("SELECT count(*) FROM ducksync.ledger_verified").fetchall() == [(0,)]
    for store in (sql, native):  # acknowledged: the ids stay (replays), not verified now
        assert run(store.batch_result("s1")) == {"batch_id": "s1", "replayed": True,
                                                 "result": b"", "verified": False}
    with pytest.raises(ProtocolError):
        run(sql.apply_batch("t", ["id"], "bad", batch(con, "(9, 'z')"), checksum="-1"))


def test_a_changed_key_shape_falls_back_to_a_blob(tmp_path: Any) -> None:
    sql, _, con = stores(str(tmp_path / "r.duckdb"))
    run(sql.apply_batch("t", ["id"], "b1", batch(con)))
    # the same table synced with another key: answers have other columns
    res = run(sql.apply_batch("t", ["id", "v"], "b2", batch(con, "(3, 'c')")))
    assert con.execute("SELECT count(*) FROM ducksync.ledger_results "
                       "WHERE batch_id = 'b2'").fetchone() == (1,)
    assert run(sql.batch_result("b2"))["result"] == res["result"]  # type: ignore[index]


def test_database_qualifies_everything(tmp_path: Any) -> None:
    connector = ScalarConnector(spec=":memory:")
    connector.con.execute(f"ATTACH '{tmp_path / 'svc.duckdb'}' AS svc")
    sql = SqlRemoteStore(connector=connector, database="svc")
    run(sql.create_table("t", [{"name": "id", "type": "INTEGER", "nullable": False}], ["id"]))
    assert [t["name"] for t in run(sql.list_tables())] == ["t"]
    run(sql.remote_id())  # first contact: the ledger, in svc too
    assert connector.con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = "
                                 "'svc' AND table_name IN ('t', 'ledger')").fetchone() == (2,)


@pytest.mark.parametrize("kind", ["sql", "native"])
def test_a_write_on_a_kept_shape_sees_a_column_another_tool_added(tmp_path: Any,
                                                                  kind: str) -> None:
    """A write trusts the table's shape its store read last (the survey's) and checks it
    inside its transaction: a column a notebook added since (with a value) must not be
    dropped by a compare-and-swap built on the old columns; the row changed, so the
    answer is 'conflict' and the notebook's value stays."""
    sql, native, con = stores(str(tmp_path / "r.duckdb"))
    store = sql if kind == "sql" else native
    run(store.apply_batch("t", ["id"], "b1", batch(con, "(1, 'a')")))
    run(store.survey(["t"], ["id"]))  # the shape is kept from here
    seen = con.execute(f"SELECT {sb.row_hash_sql(TYPES)} FROM t").fetchall()[0][0]
    con.execute("ALTER TABLE t ADD COLUMN w VARCHAR")
    con.execute("UPDATE t SET w = 'notebook' WHERE id = 1")
    answer = run(store.apply_batch("t", ["id"], "b2",
                                   batch(con, "(1, 'mine')", expect=str(seen))))
    assert from_ipc(answer["result"]).column("__ds_status").to_pylist() == ["conflict"]
    assert con.execute("SELECT v, w FROM t").fetchall() == [("a", "notebook")]


@pytest.mark.parametrize("hashes", [False, True])
def test_a_page_read_as_a_key_range_holds_exactly_the_next_keys(tmp_path: Any,
                                                               hashes: bool) -> None:
    """Keyset pages (``fetch_rows_after(limit=n)``) are read as the key range up to the
    n-th key, unordered: each holds exactly the next n keys of the table as stored in
    another order, and of the caller's rows only under a scope."""
    from ducksync.stores.scope import TableScope

    sql, _, con = stores(str(tmp_path / "r.duckdb"))
    con.execute("INSERT INTO t SELECT (i * 7919) % 1000, 'v' || i FROM range(1000) x(i)")

    def pages(after: str | None, limit: int) -> list[list[int]]:
        out: list[list[int]] = []
        while True:
            chunks = run(_collect(sql.fetch_rows_after("t", "id", after, batch_rows=limit,
                                                       limit=limit, hashes=hashes)))
            keys = [k for c in chunks for k in from_ipc(c).column("id").to_pylist()]
            if not keys:
                return out
            out.append(sorted(keys))
            after = str(max(keys))

    assert pages(None, 300) == [list(range(i, min(i + 300, 1000))) for i in range(0, 1000, 300)]
    assert pages("499", 200) == [list(range(i, i + 200)) for i in (500, 700)] + [
        list(range(900, 1000))]
    sql.scopes = {"t": TableScope(filter_sql="id % 3 = ?", params=(1,), writable=False)}
    mine = [k for k in range(1000) if k % 3 == 1]
    assert pages(None, 100) == [mine[i:i + 100] for i in range(0, len(mine), 100)]


async def _collect(chunks: Any) -> list[bytes]:
    return [c async for c in chunks]
