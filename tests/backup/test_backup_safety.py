"""Imports are all or nothing: malformed input, existing data, bounded memory."""

from __future__ import annotations

import io

import pytest
from backup_helpers import csv_roundtrip, make_source, run, script_of, sql_roundtrip

from ducksync.backup import export_csv, import_csv, import_sql
from ducksync.errors import BackupError
from ducksync.stores.native import NativeLocalStore


def _snapshot(store: NativeLocalStore) -> list[tuple[object, ...]]:
    tables = store.con.execute("SELECT schema_name, table_name, sql FROM duckdb_tables() "
                               "ORDER BY ALL").fetchall()
    rows = [store.con.execute(f'SELECT count(*), hash(list(t ORDER BY ALL)::VARCHAR) '
                              f'FROM "{s}"."{n}" t').fetchone() for s, n, _ in tables]
    return [*tables, *rows]


def test_malformed_script_names_the_line_and_changes_nothing() -> None:
    dst = NativeLocalStore(spec=":memory:")
    dst.con.execute("CREATE TABLE keep (x INTEGER); INSERT INTO keep VALUES (1), (2)")
    before = _snapshot(dst)
    script = ("CREATE TABLE fresh (a INTEGER);\nINSERT INTO fresh VALUES (1);\n"
              "INSERT INTO keep VALUES (3);\n\nINSERT INTO fresh VALUES (2, 'too many';\n")
    with pytest.raises(BackupError) as err:
        run(import_sql(dst, [script]))
    assert "statement 4 (line 5)" in err.value.message and "nothing was imported" in str(err.value)
    assert _snapshot(dst) == before


def test_unterminated_string_is_an_error_not_a_hang() -> None:
    dst = NativeLocalStore(spec=":memory:")
    with pytest.raises(BackupError, match="line 2"):
        run(import_sql(dst, ["CREATE TABLE t (a VARCHAR);\nINSERT INTO t VALUES ('oops);"]))
    assert dst.con.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)


@pytest.mark.parametrize("roundtrip", [sql_roundtrip, csv_roundtrip], ids=["sql", "csv"])
def test_import_over_rows_needs_replace(tmp_path, roundtrip) -> None:  # type: ignore[no-untyped-def]
    src = make_source(tmp_path / "src.duckdb")
    dst = NativeLocalStore(spec=":memory:")
    dst.con.execute("CREATE TABLE fresh_first (a INTEGER)")
    dst.con.execute("CREATE TABLE every (id INTEGER); INSERT INTO every VALUES (99)")
    before = _snapshot(dst)
    with pytest.raises(BackupError) as err:
        roundtrip(src, dst)
    assert "every already has rows" in err.value.message and "--replace" in str(err.value.hint)
    assert _snapshot(dst) == before
    result = roundtrip(src, dst, replace=True)
    assert result["rows"] == 7
    assert dst.con.execute("SELECT count(*), max(id) FROM every").fetchone() == (4, 4)


def test_script_writing_engine_state_is_refused() -> None:
    dst = NativeLocalStore(spec=":memory:")
    with pytest.raises(BackupError, match="sync state"):
        run(import_sql(dst, ["CREATE SCHEMA ducksync; CREATE TABLE ducksync.tables (a INT);"]))


def test_not_a_bundle() -> None:
    from ducksync.backup import import_csv

    with pytest.raises(BackupError, match="not a CSV bundle"):
        run(import_csv(NativeLocalStore(spec=":memory:"), io.BytesIO(b"CREATE TABLE x")))


class _Recording(NativeLocalStore):
    """Records the size of every page the CSV export pulls from DuckDB."""

    pages: list[int]

    async def copy_out(self, sql: str) -> bytes:
        data = await super().copy_out(sql)
        self.pages.append(len(data))
        return data


def test_200k_rows_export_in_bounded_chunks() -> None:
    store = _Recording(spec=":memory:")
    store.pages = []
    store.con.execute("CREATE TABLE big AS SELECT range AS id, 'row ' || range AS label, "
                      "range * 0.5 AS half, DATE '2000-01-01' + (range % 5000)::INTEGER AS d "
                      "FROM range(200000)")
    budget = 64 << 10
    chunks = [len(c.encode()) for c in _collect(store, budget)]
    assert len(chunks) > 50, "the script must stream in many chunks"
    assert max(chunks[1:]) <= 2 * budget, "no chunk may grow with the table"
    buf = io.BytesIO()
    run(export_csv(store, buf, chunk_bytes=budget))
    assert len(store.pages) > 20 and max(store.pages) <= 2 * budget
    script = "".join(_collect(store, budget))
    assert script.count("\n(") == 200_000  # one row per line; SQL import speed: see docs
    buf.seek(0)
    dst = NativeLocalStore(spec=":memory:")
    assert run(import_csv(dst, buf))["rows"] == 200_000
    assert dst.con.execute("SELECT sum(id), count(DISTINCT label) FROM big").fetchone() == (
        sum(range(200_000)), 200_000)


def _collect(store: NativeLocalStore, budget: int) -> list[str]:
    return run(_chunks(store, budget))


async def _chunks(store: NativeLocalStore, budget: int) -> list[str]:
    from ducksync.backup import export_sql

    return [c async for c in export_sql(store, chunk_bytes=budget)]


def test_script_of_is_deterministic_apart_from_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = make_source(tmp_path / "s.duckdb")
    a, b = run(script_of(src)), run(script_of(src))
    strip = lambda s: "\n".join(ln for ln in s.splitlines() if not ln.startswith("-- created"))  # noqa: E731
    assert strip(a) == strip(b)
