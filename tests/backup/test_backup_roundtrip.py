"""Export then import gives identical tables, in both formats, for every type."""

from __future__ import annotations

import duckdb
import pytest
from backup_helpers import (
    assert_same_tables,
    close_source,
    csv_roundtrip,
    make_source,
    run,
    script_of,
    sql_roundtrip,
)

from ducksync.backup.progress import Progress
from ducksync.stores.native import NativeLocalStore


@pytest.mark.parametrize("roundtrip", [sql_roundtrip, csv_roundtrip], ids=["sql", "csv"])
def test_every_type_round_trips(tmp_path, roundtrip) -> None:  # type: ignore[no-untyped-def]
    src = make_source(tmp_path / "src.duckdb")
    dst = NativeLocalStore(spec=str(tmp_path / "dst.duckdb"))
    result = roundtrip(src, dst)
    close_source(src)
    assert result["rows"] == 7
    assert sorted(result["tables"]) == sorted(["every", 'other schema.Odd "Table" 🦆',
                                               "empty_one"])
    assert_same_tables(dst, tmp_path / "src.duckdb")


def test_engine_state_is_neither_exported_nor_touched(tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = make_source(tmp_path / "src.duckdb")
    script = run(script_of(src))
    assert "ducksync.tables" not in script and '"ducksync"' not in script
    dst = NativeLocalStore(spec=":memory:")
    dst.con.execute("CREATE SCHEMA ducksync; CREATE TABLE ducksync.tables AS SELECT 42 AS x")
    run(_import(dst, script))
    assert dst.con.execute("FROM ducksync.tables").fetchall() == [(42,)]


async def _import(dst: NativeLocalStore, script: str) -> None:
    from ducksync.backup import import_sql

    await import_sql(dst, [script])


def test_script_runs_as_is_in_plain_duckdb(tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = make_source(tmp_path / "src.duckdb")
    script = run(script_of(src))
    close_source(src)
    con = duckdb.connect(str(tmp_path / "plain.duckdb"))
    con.execute(script)  # what `duckdb new.db < backup.sql` does
    con.close()
    assert_same_tables(NativeLocalStore(spec=str(tmp_path / "plain.duckdb")),
                       tmp_path / "src.duckdb")


def test_header_names_tool_tables_and_counts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    script = run(script_of(make_source(tmp_path / "s.duckdb"), tables=["every"]))
    head = script.split("\n\n", 1)[0]
    assert "ducksync 0.1.0" in head and "created: " in head
    assert "every: 4 rows" in head and "Odd" not in script


def test_progress_reports_tables_and_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = make_source(tmp_path / "src.duckdb")
    seen: list[Progress] = []
    script = run(script_of(src, on_progress=seen.append))
    assert seen[-1]["tables_done"] == seen[-1]["tables_total"] == 3
    assert seen[-1]["rows_done"] == seen[-1]["rows_total"] == 7
    assert [p["rows_done"] for p in seen] == sorted(p["rows_done"] for p in seen)
    imported: list[Progress] = []
    from ducksync.backup import import_sql

    run(import_sql(NativeLocalStore(spec=":memory:"), [script], on_progress=imported.append))
    assert imported[-1]["rows_done"] == imported[-1]["rows_total"] == 7
    assert imported[-1]["tables_done"] == imported[-1]["tables_total"] == 3
