"""Change detection is representation-exact: an edit between two values DuckDB's
``hash()`` and ``=`` fold (0.0/-0.0, NaN payloads, 1 month/30 days, NULL/empty inside a
container) is synced like any other edit, both ways, and lands bit for bit."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest
from engine_helpers import do_sync, local_db, remote_db

from ducksync.engine import sqlbuild as sb

NAN_PAYLOAD = "'0111111111110000000000000000000000000000000000000000000000000001'::BIT::DOUBLE"

# (column type, value before, value after): each pair hashes equal in DuckDB.
EDITS = [
    ("DOUBLE", "0.0", "'-0.0'::DOUBLE"),
    ("FLOAT", "0.0", "'-0.0'::FLOAT"),
    ("DOUBLE", "'nan'::DOUBLE", "-('nan'::DOUBLE)"),
    ("DOUBLE", "'nan'::DOUBLE", NAN_PAYLOAD),
    ("FLOAT", "'nan'::FLOAT", "-('nan'::FLOAT)"),
    ("INTERVAL", "INTERVAL '30 days'", "INTERVAL '1 month'"),
    ("INTERVAL", "INTERVAL '1 day'", "INTERVAL '24 hours'"),
    ("INTERVAL", "INTERVAL '-1 day'", "INTERVAL '1 month -31 days'"),
    ("DOUBLE[]", "[0.0, 1]", "['-0.0'::DOUBLE, 1]"),
    ("DOUBLE[2]", "[0.0, 1]", "['-0.0'::DOUBLE, 1]"),
    ("STRUCT(a DOUBLE, b INTEGER)", "{'a': 0.0, 'b': 1}", "{'a': '-0.0'::DOUBLE, 'b': 1}"),
    ("MAP(VARCHAR, INTERVAL)", "MAP {'k': INTERVAL '1 day'}", "MAP {'k': INTERVAL '24 hours'}"),
    ("INTEGER[][]", "[[]]::INTEGER[][]", "[NULL]::INTEGER[][]"),
    ("STRUCT(a INTEGER)[]", "[{'a': NULL}]", "[NULL]::STRUCT(a INTEGER)[]"),
    ("STRUCT(s STRUCT(a INTEGER))", "{'s': {'a': NULL}}", "{'s': NULL}"),
    ("STRUCT(l INTEGER[])", "{'l': []}", "{'l': NULL}"),
]


def exact(con: Any, typ: str, table: str = "t") -> list[Any]:
    """The values as their text and, for scalar floats, their bits: what `=` hides."""
    bits = ", v::BIT" if typ in ("DOUBLE", "FLOAT") else ""
    return con.execute(f"SELECT id, v::VARCHAR{bits} FROM {table} ORDER BY id").fetchall()


def replace(con: Any, value: str) -> None:
    """Write ``value`` into row 1: delete + insert (DuckDB skips an UPDATE to an `=` value)."""
    con.execute("BEGIN")
    con.execute("DELETE FROM t WHERE id = 1")
    con.execute(f"INSERT INTO t VALUES (1, {value})")
    con.execute("COMMIT")


@pytest.mark.parametrize(("typ", "before", "after"), EDITS)
def test_edit_between_folded_values_is_synced_both_ways(typ: str, before: str,
                                                          after: str) -> None:
    a, b, r = local_db(), local_db(), remote_db()
    a.con.execute(f"CREATE TABLE t (id INTEGER PRIMARY KEY, v {typ})")
    a.con.execute(f"INSERT INTO t VALUES (1, {before}), (2, {before})")
    assert do_sync(a, r).converged and do_sync(b, r).converged
    assert a.con.execute(f"SELECT hash(({before})::{typ}) = hash(({after})::{typ})"
                         ).fetchone() == (True,)  # DuckDB alone cannot tell them apart
    want = exact(a.con, typ)

    replace(a.con, after)  # a local edit is pushed...
    rep = do_sync(a, r).tables[0]
    assert (rep.pushed, rep.converged) == (1, True)
    assert exact(r.con, typ) == exact(a.con, typ) != want
    rep = do_sync(b, r).tables[0]  # ...and pulled by the other device
    assert (rep.pulled, rep.converged) == (1, True)
    assert exact(b.con, typ) == exact(a.con, typ)

    replace(r.con, before)  # a remote edit back is pulled
    rep = do_sync(a, r).tables[0]
    assert (rep.pulled, rep.converged) == (1, True)
    assert exact(a.con, typ) == exact(r.con, typ) == want


def test_tables_without_folded_types_keep_their_hashes() -> None:
    """The XOR tree is the old chain regrouped, and other types hash as before: an
    upgrade re-transfers only tables with float, interval or nested-container columns."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT i AS id, 'v' || i AS s, i % 3 = 0 AS b, [i] AS l, "
                "{'x': i} AS st, (i * 1.5)::DECIMAL(9, 2) AS d FROM range(50) x(i)")
    types = {"id": "BIGINT", "s": "VARCHAR", "b": "BOOLEAN", "l": "BIGINT[]",
             "st": "STRUCT(x BIGINT)", "d": "DECIMAL(9,2)"}
    terms = [f"CASE WHEN {sb.quote_ident(c)} IS NULL THEN 0::UBIGINT ELSE "
             f"hash(hash('{c}', {sb.quote_ident(c)})) END" for c in sorted(types)]
    chain = terms[0]
    for term in terms[1:]:  # the formula before exact hashing: a left-deep chain
        chain = f"xor({chain}, {term})"
    old = con.execute(f"SELECT list({chain} ORDER BY id) FROM t").fetchone()
    new = con.execute(f"SELECT list({sb.row_hash_sql(types)} ORDER BY id) FROM t").fetchone()
    assert old == new


@pytest.mark.parametrize(("typ", "exact_terms"), [
    ("INTEGER", 1), ("VARCHAR", 1), ("DECIMAL(18,3)", 1), ("ENUM('DOUBLE', 'x')", 1),
    ("INTEGER[]", 1), ("STRUCT(a VARCHAR, \"DOUBLE\" INTEGER)", 1), ("DOUBLE", 3),
    ("FLOAT", 3), ("INTERVAL", 4), ("DOUBLE[]", 2), ("INTEGER[][]", 2),
    ("MAP(VARCHAR, INTEGER[])", 2), ("STRUCT(t TIMESTAMP WITH TIME ZONE, d DOUBLE)", 1),
    ("TIMESTAMPTZ[][]", 1)])
def test_only_folded_types_pay_for_exactness(typ: str, exact_terms: int) -> None:
    """The hash's arguments per type: extra work only where DuckDB folds values."""
    assert len(sb.exact_value_sql("v", typ).split(", ")) == exact_terms


def test_a_table_of_2000_columns_syncs_file_to_file(tmp_path: Any) -> None:
    """The row hash is a balanced XOR tree: a left-deep chain of 1,000 columns hit
    DuckDB's max_expression_depth (1,000)."""
    cols = [f"c{i}" for i in range(2000)]
    a = local_db(str(tmp_path / "a.duckdb"))
    b = local_db(str(tmp_path / "b.duckdb"))
    r = remote_db(str(tmp_path / "r.duckdb"))
    a.con.execute("CREATE TABLE wide (id INTEGER PRIMARY KEY, "
                  + ", ".join(f"{c} INTEGER" for c in cols) + ")")
    a.con.execute("INSERT INTO wide SELECT i, " + ", ".join(f"i + {n}" for n in range(2000))
                  + " FROM range(3) x(i)")
    assert do_sync(a, r).converged  # the bulk push
    a.con.execute("UPDATE wide SET c1999 = -1 WHERE id = 2")
    assert do_sync(a, r).tables[0].pushed == 1  # change detection + compare-and-swap
    rep = do_sync(b, r).tables[0]  # the descent and the pull
    assert (rep.pulled, rep.converged) == (3, True)
    assert b.con.execute("SELECT c1999, c0 FROM wide WHERE id = 2").fetchone() == (-1, 2)
