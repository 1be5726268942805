"""Every DuckDB type survives push then pull exactly (Arrow IPC, lossless)."""

from __future__ import annotations

from typing import Any

from engine_helpers import do_sync, local_db, remote_db

COLUMNS = """id INTEGER PRIMARY KEY, ti TINYINT, si SMALLINT, bi BIGINT, hi HUGEINT, uh UHUGEINT,
ut UTINYINT, ub UBIGINT, d DECIMAL(18,3), d38 DECIMAL(38,10), f FLOAT, db DOUBLE, bo BOOLEAN,
dt DATE, tm TIME, ts TIMESTAMP, tz TIMESTAMPTZ, tns TIMESTAMP_NS, iv INTERVAL, b BLOB,
u UUID, s VARCHAR, e ENUM('x', 'y'), l INTEGER[], ll VARCHAR[][],
st STRUCT(a INTEGER, "b c" VARCHAR), m MAP(VARCHAR, DOUBLE), a3 INTEGER[3], bit BIT"""

ROW = """(1, -128, -32768, -9223372036854775808, -170141183460469231731687303715884105728,
340282366920938463463374607431768211455, 255, 18446744073709551615, 123456789012345.678,
1234567890123456789012345678.0123456789, 1.5, 'NaN'::DOUBLE, true, '1969-07-20', '23:59:59.999999',
'2262-04-11 23:47:16.854775', '2000-01-01 12:00:00+05:30', '1677-09-22 00:00:00.000000001',
INTERVAL '1 year 2 months 3 days 04:05:06.000007', '\\x00\\xFF\\x80'::BLOB,
'f47ac10b-58cc-4372-a567-0e02b2c3d479', 'héllo 🦆 ' || chr(0) || ' ''"', 'y', [1, NULL, 3],
[['a'], [], NULL], {'a': 7, 'b c': NULL}, MAP {'k': 1.25, 'z': -0.0}, [1, 2, 3], '0101'::BIT)"""


def test_all_types_round_trip_exactly() -> None:
    a, b, r = local_db(), local_db(), remote_db()
    a.con.execute(f"CREATE TABLE t ({COLUMNS})")
    a.con.execute(f"INSERT INTO t VALUES {ROW}")
    a.con.execute("INSERT INTO t (id) VALUES (2)")  # all NULLs
    assert do_sync(a, r).converged
    assert do_sync(b, r).converged
    for other in (b, r):
        tbl = other.con.sql("SELECT * FROM t").to_arrow_table()
        a.con.register("other_t", tbl)
        same = a.con.execute(
            "SELECT count(*) FROM t JOIN other_t o USING (id) WHERE "
            + " AND ".join(f't."{c}" IS NOT DISTINCT FROM o."{c}"::{typ}' for c, typ in
                           a.con.execute("SELECT column_name, data_type FROM "
                                         "information_schema.columns WHERE table_name = 't' "
                                         "AND table_catalog = 'memory'").fetchall()
                           if c != "id")).fetchall()
        assert same == [(2,)]
        a.con.unregister("other_t")
    # types are identical too, and a resync moves nothing
    assert (a.con.execute("DESCRIBE t").fetchall() == b.con.execute("DESCRIBE t").fetchall())
    rep = do_sync(b, r).tables[0]
    assert (rep.pushed, rep.pulled) == (0, 0)


def all_types_table(con: Any, exclude: str = "", table: str = "t") -> list[str]:
    """``table``: DuckDB's own ``test_all_types()`` (min, max and NULL of every type)
    keyed by row number; returns its columns."""
    con.execute(f"CREATE TABLE {table} AS SELECT row_number() OVER () AS id, * "
                f"{'EXCLUDE (' + exclude + ')' if exclude else ''} FROM test_all_types()")
    con.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
    return [c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall()]


def exact_values(con: Any, columns: list[str], table: str = "t") -> list[Any]:
    """Every value as its text and its type: equal only when stored alike."""
    return [con.execute(f'SELECT any_value(typeof("{c}")), list("{c}"::VARCHAR ORDER BY id) '
                        f"FROM {table}").fetchall() for c in columns]


def test_test_all_types_round_trips_file_to_file(tmp_path: Any) -> None:
    a, b = local_db(str(tmp_path / "a.duckdb")), local_db(str(tmp_path / "b.duckdb"))
    r = remote_db(str(tmp_path / "r.duckdb"))
    columns = all_types_table(a.con)
    assert do_sync(a, r).converged and do_sync(b, r).converged
    assert exact_values(b.con, columns) == exact_values(r.con, columns) == exact_values(
        a.con, columns)
    rep = do_sync(b, r).tables[0]
    assert (rep.pushed, rep.pulled, rep.converged) == (0, 0, True)
