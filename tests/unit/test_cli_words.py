"""What a new user of the ``ducksync`` command sees when the input is wrong: one line that
names the problem and the fix, exit 2, and nothing created or changed on the way."""

from __future__ import annotations

import socket
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


def test_a_table_left_out_for_want_of_a_key_is_named_with_the_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Was: `ducksync sync` printed only the keyed tables and exited 0; the user's
    keyless table stayed behind without a word."""
    local, remote = tmp_path / "l.duckdb", tmp_path / "r.duckdb"
    with duckdb.connect(str(local)) as con:
        con.execute("CREATE TABLE keyed (id INTEGER PRIMARY KEY); INSERT INTO keyed VALUES (1);"
                    "CREATE TABLE loose (a INTEGER); INSERT INTO loose VALUES (1)")
    assert main(["sync", str(local), str(remote)]) == 0
    captured = capsys.readouterr()
    assert "keyed: pushed 1" in captured.out
    assert ("loose: not synced (no primary key): declare one (ALTER TABLE \"loose\" ADD "
            "PRIMARY KEY (col)) or pass --table loose --key COL") in captured.err
    assert main(["sync", str(local), str(remote), "--json"]) == 0  # stdout stays JSON
    assert "loose: not synced" in capsys.readouterr().err


def test_serve_on_a_port_in_use_says_so_before_serving(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Was: "ducksync: serving http://…" printed, then uvicorn's JSON log line, exit 3."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port), "--remote",
                     str(tmp_path / "r.duckdb")]) == 2
    captured = capsys.readouterr()
    assert f"cannot listen on 127.0.0.1:{port}" in captured.err and "--port" in captured.err
    assert "serving" not in captured.out


@pytest.mark.parametrize("rows", ["0", "-5", "lots"])
def test_a_batch_size_that_is_no_row_count_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: str) -> None:
    """Was: 0 and -5 silently became 1 (a million round trips for a million rows)."""
    with pytest.raises(SystemExit) as stop:
        main(["push", str(tmp_path / "l.duckdb"), str(tmp_path / "r.duckdb"),
              "--batch-rows", rows])
    assert stop.value.code == 2
    assert f"argument --batch-rows: {rows!r} is not a whole number of rows above 0" in \
        capsys.readouterr().err


def test_conflicts_show_both_versions_to_choose_between(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Was: `t key=2 local_deleted=False remote_deleted=False at …`: nothing to choose by."""
    a, b, remote = (str(tmp_path / n) for n in ("a.duckdb", "b.duckdb", "r.duckdb"))
    with duckdb.connect(a) as con:
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR);"
                    "INSERT INTO t VALUES (2, 'base')")
    assert main(["sync", a, remote]) == 0 and main(["pull", b, remote]) == 0
    for path, value in ((a, "from a"), (b, "from b")):
        with duckdb.connect(path) as con:
            con.execute("UPDATE t SET v = ? WHERE id = 2", [value])
    assert main(["sync", a, remote]) == 0 and main(["sync", b, remote]) == 1
    capsys.readouterr()
    assert main(["conflicts", b]) == 0
    out = capsys.readouterr().out
    assert "t key=2 (update/update)" in out
    assert "local:  {'id': 2, 'v': from b}" in out and "remote: {'id': 2, 'v': from a}" in out
    assert f"ducksync conflicts {b} --resolve KEY --take local|remote" in out
    # a key no conflict has: said so, with where the keys are (was: "add --table")
    assert main(["conflicts", b, "--resolve", "7", "--take", "local"]) == 2
    err = capsys.readouterr().err
    assert "no pending conflict has key '7'" in err and "--table" not in err
    assert main(["conflicts", b, "--resolve", "2", "--take", "local"]) == 0
