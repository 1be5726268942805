"""The SQL console's worker logic (ducksync.worker.console_service / console_sql) on
native DuckDB: the same SQL the page's DuckDB-WASM runs, without a browser."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from ducksync.errors import DuckDBCrashedError, QueryError
from ducksync.worker import checkpoint_deferred, query_types
from ducksync.worker import console_sql as csql
from ducksync.worker.console_service import ConsoleCancelledError, ConsoleService
from ducksync.worker.extensions import crash_error


class NativeConnection:
    """The console's connection over native DuckDB (statements in a thread, so
    ``cancel`` can interrupt them as DuckDB-WASM's cancelPendingQuery does)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.lock = threading.Lock()

    def _arrow(self, sql: str) -> bytes:
        with self.lock:
            try:
                table = self.con.execute(sql).to_arrow_table()
            except duckdb.Error as exc:
                raise QueryError(str(exc)) from None
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue()

    async def run(self, sql: str) -> Any:
        return await asyncio.to_thread(self._arrow, sql)

    async def rows(self, sql: str) -> list[list[Any]]:
        try:
            return [list(r) for r in self.con.execute(sql).fetchall()]
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from None

    async def ipc(self, sql: str) -> Any:
        return self._arrow(sql)

    async def copy_csv(self, sql: str) -> Any:
        import pyarrow.csv as pacsv

        sink = io.BytesIO()
        pacsv.write_csv(self.con.execute(sql).to_arrow_table(), sink)
        return sink.getvalue().replace(b'"', b"")

    async def cancel(self) -> bool:
        self.con.interrupt()
        return True


def table_of(ipc: bytes) -> pa.Table:
    return pa.ipc.open_stream(ipc).read_all()


class Harness:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.writes = 0
        self.checkpoints = 0
        self.tasks: list[asyncio.Future[None]] = []
        self.service = ConsoleService(NativeConnection(con), writing=self.writing,
                                      after_write=self.after_write, checkpoint=self.checkpoint,
                                      spawn=self.spawn, now_ms=lambda: time.time() * 1000)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        self.writes += 1
        yield

    async def after_write(self) -> None:
        pass

    async def checkpoint(self) -> None:
        self.checkpoints += 1

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.ensure_future(coro))

    async def settle(self) -> None:
        await asyncio.gather(*self.tasks)


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as c:
        yield c


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


# --- the text: statements, the one under the cursor -------------------------------------
def test_split_keeps_semicolons_inside_strings_identifiers_comments_and_dollar_quotes() -> None:
    sql = ("SELECT 'a;b', \"x;y\" -- c;d\n; /* e;f */ SELECT $$g;h$$, $t$i;j$t$;"
           "SELECT E'k\\';l', 'it''s;';")
    assert [s.sql for s in csql.split(sql)] == [
        "SELECT 'a;b', \"x;y\" -- c;d", "/* e;f */ SELECT $$g;h$$, $t$i;j$t$",
        "SELECT E'k\\';l', 'it''s;'"]


def test_split_drops_blank_and_comment_only_statements() -> None:
    sql = "SELECT 1; ;\n-- nothing\n; SELECT 2 /* two */"
    statements = csql.split(sql)
    assert [s.sql for s in statements] == ["SELECT 1", "SELECT 2 /* two */"]
    assert sql[statements[1].start:statements[1].end] == "SELECT 2 /* two */"


def test_statement_at_picks_the_statement_under_or_just_before_the_cursor() -> None:
    sql = "SELECT 1;\nSELECT 2;\n\nSELECT 3"
    at = {c: s.sql for c in range(len(sql) + 1) if (s := csql.statement_at(sql, c))}
    assert at[0] == at[8] == at[9] == "SELECT 1"  # on it, on its ";", right after it
    assert at[sql.index("2")] == "SELECT 2" and at[sql.index("\n\n") + 1] == "SELECT 2"
    assert at[len(sql)] == "SELECT 3"


# --- running: the last result, paged, as DuckDB prints it -----------------------------------
def test_the_last_statements_result_is_shown_with_duckdb_types_and_text(con: Any) -> None:
    h = Harness(con)
    result = run(h.service.run({"sql": "CREATE TABLE t (i INTEGER); INSERT INTO t VALUES (1);"
                                       "SELECT 1 AS a, 2 AS a; SELECT i, INTERVAL 1 DAY AS d, "
                                       "'101'::BIT AS b, NULL AS n, 'NULL' AS s, "
                                       "{'z': 1, 'a': 2} AS st, 'nan'::DOUBLE AS f FROM t"}))
    assert result["kind"] == "table" and result["total"] == 1 and result["statements"] == 4
    assert [(c["name"], c["type"]) for c in result["columns"]] == [
        ("i", "INTEGER"), ("d", "INTERVAL"), ("b", "BIT"), ("n", "INTEGER"), ("s", "VARCHAR"),
        ("st", "STRUCT(z INTEGER, a INTEGER)"), ("f", "DOUBLE")]
    assert table_of(result["ipc"]).to_pylist() == [
        {"c0": "1", "c1": "1 day", "c2": "101", "c3": None, "c4": "NULL",
         "c5": "{'z': 1, 'a': 2}", "c6": "nan"}]
    assert h.writes == 1  # the CREATE/INSERT were counted as writes
    twice = run(h.service.run({"sql": "SELECT 1 AS a, 2 AS a"}))
    assert [c["name"] for c in twice["columns"]] == ["a", "a"]  # as DuckDB names them
    assert h.writes == 1  # a query is no write (its result table is the console's own)


def test_a_big_result_is_paged_in_order(con: Any) -> None:
    h = Harness(con)
    result = run(h.service.run({"sql": "SELECT * FROM range(300000) t(i) ORDER BY i DESC",
                                "page_rows": 50}))
    assert result["total"] == 300_000 and table_of(result["ipc"]).num_rows == 50
    page = run(h.service.page({"result": result["result"], "offset": 250_000, "limit": 3}))
    assert table_of(page["ipc"]).column(0).to_pylist() == ["49999", "49998", "49997"]


def test_a_page_of_a_replaced_result_is_refused(con: Any) -> None:
    h = Harness(con)
    first = run(h.service.run({"sql": "SELECT 1"}))
    run(h.service.run({"sql": "SELECT 2"}))
    with pytest.raises(QueryError, match="replaced by a newer run"):
        run(h.service.page({"result": first["result"], "offset": 0, "limit": 1}))


def test_ddl_and_dml_come_back_raw_and_errors_do_not_show_the_wrapper(con: Any) -> None:
    h = Harness(con)
    ddl = run(h.service.run({"sql": "CREATE TABLE u (i INTEGER)"}))
    assert ddl["kind"] == "raw" and ddl["statement"] == "create"
    dml = run(h.service.run({"sql": "INSERT INTO u SELECT * FROM range(3)"}))
    assert dml["kind"] == "raw" and table_of(dml["ipc"]).column(0).to_pylist() == [3]
    # a DELETE after a WITH clause is a delete (was "with": the page said "1 row in ms"
    # with a Count grid, not "1 row deleted")
    cte = run(h.service.run({"sql": "WITH old(n) AS (SELECT ')(' || 1), gone AS (SELECT 2) "
                                    "DELETE FROM u WHERE i IN (SELECT 2 FROM gone)"}))
    assert cte["kind"] == "raw" and cte["statement"] == "delete"
    assert table_of(cte["ipc"]).column(0).to_pylist() == [1]
    assert csql.statement_verb("WITH RECURSIVE r(a) USING KEY (a) AS (SELECT 1) "
                               "INSERT INTO u SELECT a FROM r") == "insert"
    assert csql.statement_verb("WITH a AS (SELECT 1) SELECT * FROM a") == "select"
    with pytest.raises(QueryError) as caught:
        run(h.service.run({"sql": "SELECT * FROM nowhere"}))
    assert "nowhere" in caught.value.message and "__ds_console" not in caught.value.message


def test_run_statement_under_cursor_runs_only_that_one(con: Any) -> None:
    h = Harness(con)
    sql = "SELECT 1 AS one;\nSELECT 2 AS two;"
    result = run(h.service.run({"sql": sql, "cursor": sql.index("two")}))
    assert result["columns"][0]["name"] == "two" and result["statements"] == 1
    assert result["span"] == [sql.index("SELECT 2"), sql.index("SELECT 2") + len("SELECT 2 AS two")]


def test_cancel_interrupts_a_long_query_and_the_console_runs_again(con: Any) -> None:
    h = Harness(con)

    async def scenario() -> tuple[dict[str, Any], Any]:
        long = asyncio.ensure_future(h.service.run(
            {"sql": "SELECT count(*) FROM range(100000000000)"}))
        while not h.service._running:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        cancelled = await h.service.cancel({})
        with pytest.raises(ConsoleCancelledError):
            await long
        after = await h.service.run({"sql": "SELECT 42"})
        await h.settle()
        return cancelled, after, await h.service.history({})

    cancelled, after, history = run(scenario())
    assert cancelled == {"cancelled": True}
    assert [e["error"] for e in history["entries"]] == [None, "cancelled while it ran"]
    assert table_of(after["ipc"]).column(0).to_pylist() == ["42"]


def test_history_keeps_runs_and_errors_newest_first_and_searches(con: Any) -> None:
    h = Harness(con)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        await h.service.run({"sql": "SELECT 'duck' AS animal"})
        with pytest.raises(QueryError):
            await h.service.run({"sql": "SELECT * FROM nowhere"})
        await h.settle()
        return await h.service.history({}), await h.service.history({"search": "DUCK"})

    everything, found = run(scenario())
    assert [e["sql"] for e in everything["entries"]] == ["SELECT * FROM nowhere",
                                                         "SELECT 'duck' AS animal"]
    assert everything["entries"][1]["rows"] == 1 and everything["entries"][0]["error"]
    assert [e["sql"] for e in found["entries"]] == ["SELECT 'duck' AS animal"]
    # in the database, under ducksync's own schema: a reload finds it there
    assert con.execute("SELECT count(*) FROM ducksync.console_history").fetchone() == (2,)


def test_export_csv_and_arrow_hold_the_whole_result(con: Any) -> None:
    h = Harness(con)
    result = run(h.service.run({"sql": "SELECT i, i * 2 AS j FROM range(1000) t(i)",
                                "page_rows": 10}))
    csv = run(h.service.export({"result": result["result"], "format": "csv"}))["data"]
    lines = csv.decode().splitlines()
    assert lines[:2] == ["i,j", "0,0"] and len(lines) == 1001
    arrow = run(h.service.export({"result": result["result"], "format": "arrow"}))["data"]
    assert table_of(arrow).num_rows == 1000


def test_a_checkpoint_refused_for_another_connections_transaction_is_deferred() -> None:
    refused = "TransactionContext Error: Cannot CHECKPOINT: there are other write transactions"
    assert checkpoint_deferred("CHECKPOINT", refused)
    assert checkpoint_deferred(" checkpoint; ", refused)
    assert not checkpoint_deferred("CHECKPOINT", "IO Error: disk full")
    assert not checkpoint_deferred("INSERT INTO t VALUES (1)", refused)


# --- query(): DuckDB's types, and DuckDB's text where Arrow cannot carry a value --------
def test_query_types_wrap_only_what_arrow_cannot_carry(con: Any) -> None:
    assert query_types.describe_sql("SELECT 1; SELECT 2") is None
    assert query_types.describe_sql("INSERT INTO t VALUES (1)") is None
    sql = "SELECT INTERVAL 1 DAY AS a, '101'::BIT AS a, 1 AS n ORDER BY n"
    describe = query_types.describe_sql(sql)
    assert describe is not None
    names, types = zip(*con.execute(describe).fetchall(), strict=True)
    assert types == ("INTERVAL", "BIT", "INTEGER")
    wrapped = query_types.api_sql(sql, list(types), list(names))
    assert wrapped is not None
    assert con.execute(wrapped).fetchall() == [("1 day", "101", 1)]
    assert [d[0] for d in con.execute(wrapped).description or []] == ["a", "a", "n"]
    assert query_types.api_sql("SELECT 1 AS n", ["INTEGER"], ["n"]) is None


def test_query_types_make_nested_values_text_and_keep_the_structure(con: Any) -> None:
    """BIT, INTERVAL and TIMETZ inside a LIST, STRUCT, MAP, UNION or ARRAY are lossy in
    Arrow as they are at the top: they become DuckDB's text there too, in place."""
    sql = ("SELECT ['101'::BIT, NULL] AS bl, {'bit': '1'::BIT, 'iv': INTERVAL 1 DAY, "
           "'n': 1} AS st, MAP {'k': '12:00:01.5+05:30'::TIMETZ} AS m, "
           "union_value(t := '01'::BIT) AS u, array_value(INTERVAL 2 DAY, INTERVAL 3 HOUR) "
           "AS a, {'a b': [{'c': INTERVAL 2 DAY}]} AS g, [1] AS plain, "
           "'a'::ENUM('BIT', 'a') AS e")
    describe = query_types.describe_sql(sql)
    assert describe is not None
    names, types = zip(*(r[:2] for r in con.execute(describe).fetchall()), strict=True)
    wrapped = query_types.api_sql(sql, list(types), list(names))
    assert wrapped is not None
    assert con.execute(wrapped).fetchall() == [(
        ["101", None], {"bit": "1", "iv": "1 day", "n": 1}, {"k": "12:00:01.5+05:30"}, "01",
        ("2 days", "03:00:00"), {"a b": [{"c": "2 days"}]}, [1], "a")]
    assert [r[1] for r in con.execute(f"DESCRIBE {wrapped}").fetchall()] == [
        "VARCHAR[]", 'STRUCT("bit" VARCHAR, iv VARCHAR, n INTEGER)', "MAP(VARCHAR, VARCHAR)",
        "UNION(t VARCHAR)", "VARCHAR[2]", 'STRUCT("a b" STRUCT(c VARCHAR)[])', "INTEGER[]",
        "ENUM('BIT', 'a')"]
    # a type it cannot read is left as Arrow carries it, not refused
    assert query_types.text_type("STRUCT(a") == "STRUCT(a"


def test_a_statement_that_crashed_duckdb_while_described_is_not_run_again(con: Any) -> None:
    # DuckDB-WASM traps on `AT TIME ZONE` without icu, in DESCRIBE too; it is restarted
    # then (workers/duck.mjs), and running the statement would crash it a second time.
    h = Harness(con)
    ran: list[str] = []
    conn = h.service.conn
    plain_rows, plain_run = conn.rows, conn.run

    async def rows(sql: str) -> list[list[Any]]:
        if "AT TIME ZONE" in sql:
            raise crash_error("table index is out of bounds", sql)
        return await plain_rows(sql)

    async def run_(sql: str) -> Any:
        ran.append(sql)
        return await plain_run(sql)

    conn.rows, conn.run = rows, run_  # type: ignore[method-assign]
    with pytest.raises(DuckDBCrashedError):
        run(h.service.run({"sql": "SELECT TIMESTAMP '2024-01-01' AT TIME ZONE 'UTC'"}))
    assert ran == []
