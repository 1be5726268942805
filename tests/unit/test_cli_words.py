"""What a new user of the ``ducksync`` command sees when the input is wrong: one line that
names the problem and the fix, exit 2, and nothing created or changed on the way."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ducksync.cli import main


@pytest.mark.parametrize("command", ["status", "conflicts", "rejections"])
def test_a_missing_local_database_is_named_not_created(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    absent = tmp_path / "typo.duckdb"
    assert main([command, str(absent)]) == 2
    err = capsys.readouterr().err
    assert f"no database at {absent}" in err and "Traceback" not in err
    assert not absent.exists()  # a typo must not leave an empty database behind


def test_status_of_a_database_never_synced_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    local = tmp_path / "new.duckdb"
    duckdb.connect(str(local)).close()
    assert main(["status", str(local)]) == 0
    out = capsys.readouterr().out
    assert "no table has synced yet" in out and "ducksync sync" in out


@pytest.mark.parametrize("policy", ["bogus", "newest:", "remote_wins"])
def test_an_unknown_conflict_policy_stops_before_anything_moves(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str) -> None:
    local, remote = tmp_path / "l.duckdb", tmp_path / "r.duckdb"
    with duckdb.connect(str(local)) as con:
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)")
    with pytest.raises(SystemExit) as stop:
        main(["sync", str(local), str(remote), "--conflict", policy])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"unknown conflict policy {policy!r}" in err
    assert "remote-wins, local-wins, manual or newest:COLUMN" in err
    assert not remote.exists()  # refused before the remote was opened


def test_import_of_a_missing_file_names_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    absent = tmp_path / "backup.sql"
    assert main(["import", str(tmp_path / "l.duckdb"), str(absent), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"cannot read {absent}" in err and "Traceback" not in err
