"""``ducksync export|import`` end to end on files and stdout."""

from __future__ import annotations

import pytest
from backup_helpers import assert_same_tables, close_source, make_source

from ducksync.cli import main
from ducksync.stores.native import NativeLocalStore


@pytest.mark.parametrize("name", ["backup.sql", "backup.zip"])
def test_export_then_import(tmp_path, name) -> None:  # type: ignore[no-untyped-def]
    close_source(make_source(tmp_path / "src.duckdb"))
    out = tmp_path / name
    assert main(["export", str(tmp_path / "src.duckdb"), str(out), "--quiet"]) == 0
    assert out.exists() and not (tmp_path / f"{name}.partial").exists()
    assert main(["import", str(tmp_path / "dst.duckdb"), str(out), "--quiet"]) == 0
    assert main(["import", str(tmp_path / "dst.duckdb"), str(out), "--quiet"]) == 2
    assert main(["import", str(tmp_path / "dst.duckdb"), str(out), "--replace", "--quiet"]) == 0
    assert_same_tables(NativeLocalStore(spec=str(tmp_path / "dst.duckdb")),
                       tmp_path / "src.duckdb")


def test_export_to_stdout_selected_table(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    close_source(make_source(tmp_path / "src.duckdb"))
    assert main(["export", str(tmp_path / "src.duckdb"), "-", "--table", "every",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("-- ducksync SQL export") and 'INSERT INTO "every"' in out
    assert "empty_one" not in out


def test_unknown_table_and_missing_db(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    close_source(make_source(tmp_path / "src.duckdb"))
    assert main(["export", str(tmp_path / "src.duckdb"), "-", "--table", "nope"]) == 2
    assert "choose among: empty_one, every" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "absent.duckdb"), str(tmp_path / "x.sql")]) == 2
    assert "no database at" in capsys.readouterr().err
