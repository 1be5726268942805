"""Structural changes and disappearances never become row deletions on the other side.

Regressions (issue 14): a local ``DROP TABLE`` was recreated empty and pushed as
deletions (the remote emptied, exit 0); a column dropped on one side was re-added empty
and nulled its values on every replica; a ``DELETE FROM t`` of every row propagated
silently. Each case is checked in both directions (local / remote). The rules are
written down in docs/engine.md, "Schema".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from engine_helpers import do_sync, local_db, remote_db, remote_kind, rows, run

from ducksync.engine.sync import SyncOptions, sync

ROOT = Path(__file__).resolve().parents[2]


def synced(n: int = 20) -> tuple[Any, Any]:
    """A local and a remote that hold the same ``n`` rows of ``t``, synced once."""
    a, r = local_db(), remote_db()
    a.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR, keepme INTEGER)")
    a.con.execute(f"INSERT INTO t SELECT i, 'v' || i, i * 10 FROM range({n}) x(i)")
    assert do_sync(a, r).converged
    return a, r


def count(store: Any, table: str = "t") -> int:
    return int(store.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def exists(store: Any, table: str = "t") -> bool:
    return bool(store.con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?",
        [table]).fetchone()[0])


# --- a dropped table stops syncing; the other side keeps its copy ---------------------

@pytest.mark.parametrize("mode", ["sync", "push", "pull"])
def test_table_dropped_locally_keeps_the_remote_copy(mode: str) -> None:
    a, r = synced()
    a.con.execute("DROP TABLE t")
    rep = do_sync(a, r, mode).tables[0]
    assert rep.table == "t" and not rep.converged and rep.dropped_on == "local"
    assert rep.error and rep.error["code"] == "table_dropped"
    assert "dropped locally" in rep.error["message"]
    assert "ducksync pull" in rep.error["hint"] and "--everywhere" in rep.error["hint"]
    assert count(r) == 20 and not exists(a)  # nothing deleted there, nothing recreated here
    assert do_sync(a, r, mode).tables[0].dropped_on == "local"  # stays stopped


@pytest.mark.parametrize("mode", ["sync", "push", "pull"])
def test_table_dropped_on_the_remote_keeps_the_local_copy(mode: str) -> None:
    a, r = synced()
    r.con.execute("DROP TABLE t")
    rep = do_sync(a, r, mode).tables[0]
    assert rep.dropped_on == "remote" and rep.error and rep.error["code"] == "table_dropped"
    assert "dropped on the remote" in rep.error["message"]
    assert "ducksync push" in rep.error["hint"]
    assert count(a) == 20 and not exists(r)


def test_other_tables_keep_syncing_when_one_is_dropped() -> None:
    a, r = synced()
    a.con.execute("CREATE TABLE u (id INTEGER PRIMARY KEY)")
    a.con.execute("INSERT INTO u VALUES (1)")
    do_sync(a, r)
    a.con.execute("DROP TABLE t")
    a.con.execute("INSERT INTO u VALUES (2)")
    by = {t.table: t for t in do_sync(a, r).tables}
    assert by["t"].dropped_on == "local" and by["u"].converged and by["u"].pushed == 1


def test_a_pull_naming_the_table_downloads_it_again() -> None:
    a, r = synced()
    a.con.execute("DROP TABLE t")
    assert do_sync(a, r, "pull").tables[0].dropped_on == "local"  # not named: stays stopped
    rep = do_sync(a, r, "pull", tables=["t"]).tables[0]
    assert rep.converged and rep.pulled == 20 and rows(a) == rows(r)
    a.con.execute("UPDATE t SET v = 'after' WHERE id = 1")
    rep = do_sync(a, r).tables[0]
    assert rep.converged and rep.pushed == 1 and rows(a) == rows(r)


def test_a_push_naming_the_table_uploads_it_again() -> None:
    a, r = synced()
    r.con.execute("DROP TABLE t")
    assert do_sync(a, r, "sync", tables=["t"]).tables[0].dropped_on == "remote"  # sync: no
    rep = do_sync(a, r, "push", tables=["t"]).tables[0]
    assert rep.converged and rep.pushed == 20 and rows(a) == rows(r)
    assert do_sync(a, r).tables[0].converged


def test_drop_everywhere_is_explicit_and_forgets_the_table() -> None:
    a, r = synced()
    a.con.execute("DROP TABLE t")
    assert do_sync(a, r).tables[0].dropped_on == "local"
    from ducksync.engine import drop

    done = run(drop.drop_everywhere(a, r, "t"))
    assert done == {"table": "t", "local": False, "remote": True}
    assert not exists(a) and not exists(r)
    assert a.con.execute("SELECT count(*) FROM ducksync.tables").fetchone() == (0,)
    rep = do_sync(a, r, tables=["t"]).tables[0]  # nothing left to sync, nothing stopped
    assert rep.error and "neither side" in rep.error["message"] and not rep.dropped_on


@pytest.mark.parametrize("kind", ["native", "sql"])
def test_drop_everywhere_of_a_table_on_both_sides(kind: str) -> None:
    """Both remote stores (native, and SQL over a connector: the browser's direct one)."""
    from ducksync.engine import drop

    with remote_kind(kind):
        a, r = synced()
    assert run(drop.drop_everywhere(a, r, "t")) == {"table": "t", "local": True, "remote": True}
    assert not exists(a) and not exists(r)
    assert run(r.drop_table("t")) is False


def test_drop_everywhere_of_an_unknown_table_is_a_clear_error() -> None:
    from ducksync.engine import drop

    a, r = synced()
    with pytest.raises(Exception, match="nope") as info:
        run(drop.drop_everywhere(a, r, "nope"))
    assert getattr(info.value, "code", None) == "schema_mismatch"


def test_a_table_dropped_on_both_sides_is_forgotten_quietly() -> None:
    a, r = synced()
    a.con.execute("DROP TABLE t")
    r.con.execute("DROP TABLE t")
    a.con.execute("CREATE TABLE u (id INTEGER PRIMARY KEY)")
    rep = do_sync(a, r)
    assert rep.converged and [t.table for t in rep.tables] == ["t", "u"]
    assert "forgotten" in rep.tables[0].paths
    assert [t.table for t in do_sync(a, r).tables] == ["u"]


def test_a_default_push_lists_tables_dropped_here_but_not_keyless_ones() -> None:
    """Known tables join a default run only when gone here: a table synced once with
    --key (no primary key) is not reported by a later run without --key."""
    a, r = synced()
    a.con.execute("CREATE TABLE nk (a INTEGER, b VARCHAR)")
    a.con.execute("INSERT INTO nk VALUES (1, 'x')")
    assert do_sync(a, r, "push", tables=["nk"], key=["a"]).converged
    rep = do_sync(a, r, "push")
    assert [t.table for t in rep.tables] == ["t"] and rep.converged
    a.con.execute("DROP TABLE t")
    assert [t.dropped_on for t in do_sync(a, r, "push").tables] == ["local"]


def test_a_new_table_on_one_side_is_still_created_on_the_other() -> None:
    a, r = synced()
    r.con.execute("CREATE TABLE fresh (id INTEGER PRIMARY KEY, x VARCHAR)")
    r.con.execute("INSERT INTO fresh VALUES (1, 'r')")
    a.con.execute("CREATE TABLE mine (id INTEGER PRIMARY KEY)")
    a.con.execute("INSERT INTO mine VALUES (7)")
    assert do_sync(a, r).converged
    assert rows(a, "fresh") == [(1, "r")] and rows(r, "mine") == [(7,)]


def test_another_remote_without_the_table_gets_it_created() -> None:
    """The state belongs to one remote database: missing on another is not "dropped"."""
    a, _ = synced()
    other = remote_db()
    rep = do_sync(a, other).tables[0]
    assert rep.converged and rep.pushed == 20 and rows(other) == rows(a)


def test_a_table_recreated_with_other_rows_is_guarded_not_replaced() -> None:
    a, r = synced(2000)
    a.con.execute("DROP TABLE t")
    a.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR, keepme INTEGER)")
    a.con.execute("INSERT INTO t VALUES (5000, 'new', 1)")
    rep = do_sync(a, r).tables[0]
    assert rep.error and rep.error["code"] == "mass_delete" and count(r) == 2000


# --- a dropped column is a SchemaMismatchError; values are never overwritten ----------

def _keepme(store: Any) -> list[Any]:
    return [v for (v,) in store.con.execute("SELECT keepme FROM t ORDER BY id").fetchall()]


@pytest.mark.parametrize("side", ["remote", "local"])
def test_a_dropped_column_stops_the_table_and_keeps_values(side: str) -> None:
    a, r = synced(1000)
    dropped, kept = (r, a) if side == "remote" else (a, r)
    dropped.con.execute("ALTER TABLE t DROP COLUMN keepme")
    before = _keepme(kept)
    rep = do_sync(a, r).tables[0]
    assert rep.error and rep.error["code"] == "schema_mismatch"
    where = "on the remote" if side == "remote" else "locally"
    msg = rep.error["message"]
    assert "t.keepme" in msg and f"dropped {where}" in msg and "INTEGER" in msg
    assert "DROP COLUMN" in rep.error["hint"]
    assert _keepme(kept) == before and before[1] == 10  # nothing nulled
    assert "keepme" not in [c for (c,) in dropped.con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 't'").fetchall()]
    # the fix: drop it on the other side too, and the table syncs again with no conflict
    kept.con.execute("ALTER TABLE t DROP COLUMN keepme")
    rep = do_sync(a, r).tables[0]
    assert rep.converged and rep.conflicts == 0 and rows(a) == rows(r)


@pytest.mark.parametrize("side", ["remote", "local"])
def test_a_renamed_column_is_a_dropped_one(side: str) -> None:
    a, r = synced()
    renamed = r if side == "remote" else a
    renamed.con.execute("ALTER TABLE t RENAME COLUMN keepme TO kept")
    rep = do_sync(a, r).tables[0]
    assert rep.error and rep.error["code"] == "schema_mismatch" and "t.keepme" in \
        rep.error["message"]
    assert _keepme(a if side == "remote" else r)[1] == 10


def test_a_new_nullable_column_on_either_side_is_still_added() -> None:
    a, r = synced()
    r.con.execute("ALTER TABLE t ADD COLUMN from_remote VARCHAR")
    r.con.execute("UPDATE t SET from_remote = 'r' WHERE id = 3")
    a.con.execute("ALTER TABLE t ADD COLUMN from_local DOUBLE")
    a.con.execute("UPDATE t SET from_local = 1.5 WHERE id = 4")
    rep = do_sync(a, r).tables[0]
    cols = "SELECT id, v, keepme, from_local, from_remote FROM t ORDER BY id"
    assert rep.converged and a.con.execute(cols).fetchall() == r.con.execute(cols).fetchall()
    assert a.con.execute(cols).fetchall()[3][4] == "r" and r.con.execute(cols).fetchall()[4][3]
    # once synced, dropping the new column is guarded like any other
    r.con.execute("ALTER TABLE t DROP COLUMN from_local")
    assert do_sync(a, r).tables[0].error["code"] == "schema_mismatch"  # type: ignore[index]


@pytest.mark.parametrize("side", ["remote", "local"])
def test_a_retyped_column_names_both_definitions(side: str) -> None:
    a, r = synced()
    (r if side == "remote" else a).con.execute("ALTER TABLE t ALTER keepme TYPE VARCHAR")
    rep = do_sync(a, r).tables[0]
    assert rep.error and rep.error["code"] == "schema_mismatch"
    assert "t.keepme" in rep.error["message"] and "VARCHAR" in rep.error["message"]
    assert "INTEGER" in rep.error["message"] and rep.error["hint"]
    assert _keepme(a)[1] in (10, "10") and _keepme(r)[1] in (10, "10")


def test_a_changed_key_is_a_first_sync_that_deletes_nothing() -> None:
    a, r = synced()
    rep = do_sync(a, r, key=["v"]).tables[0]  # another key: the base goes, content merges
    assert rep.converged and count(a) == count(r) == 20 and rows(a) == rows(r)


# --- mass-delete guard -----------------------------------------------------------------

@pytest.mark.parametrize("side", ["local", "remote"])
def test_deleting_every_row_is_stopped_then_allowed(side: str) -> None:
    a, r = synced(2000)
    (a if side == "local" else r).con.execute("DELETE FROM t")
    rep = do_sync(a, r).tables[0]
    assert rep.error and rep.error["code"] == "mass_delete" and not rep.converged
    other = "on the remote" if side == "local" else "locally"
    assert "2000 of 2000" in rep.error["message"] and other in rep.error["message"]
    assert "--allow-mass-delete" in rep.error["hint"]
    assert rep.mass_delete == {"side": "remote" if side == "local" else "local",
                               "rows": 2000, "of": 2000}
    assert count(r if side == "local" else a) == 2000  # nothing changed for the table
    rep = do_sync(a, r, allow_mass_delete=True).tables[0]
    assert rep.converged and count(a) == count(r) == 0


def test_mass_delete_guard_in_push_and_pull_modes() -> None:
    a, r = synced(2000)
    a.con.execute("DELETE FROM t WHERE id < 1500")
    assert do_sync(a, r, "push").tables[0].error["code"] == "mass_delete"  # type: ignore[index]
    assert count(r) == 2000
    b = local_db()
    assert do_sync(b, r).converged
    r.con.execute("DELETE FROM t WHERE id >= 100")
    assert do_sync(b, r, "pull").tables[0].error["code"] == "mass_delete"  # type: ignore[index]
    assert count(b) == 2000


def test_below_the_threshold_deletes_go_through() -> None:
    a, r = synced(2000)
    a.con.execute("DELETE FROM t WHERE id < 1000")  # half, not more than half
    assert do_sync(a, r).tables[0].converged and count(r) == 1000
    small_a, small_r = synced(50)
    small_a.con.execute("DELETE FROM t")  # every row, but fewer than 1,000
    assert do_sync(small_a, small_r).tables[0].converged and count(small_r) == 0


def test_mass_delete_thresholds_are_configurable() -> None:
    a, r = synced(100)
    a.con.execute("DELETE FROM t WHERE id < 30")
    opts = SyncOptions(mass_delete_share=0.25, mass_delete_min_rows=10)
    rep = run(sync(a, r, opts)).tables[0]
    assert rep.error and rep.error["code"] == "mass_delete" and "30 of 100" in \
        rep.error["message"]
    assert count(r) == 100


# --- the CLI: exit codes and messages (file to file, the issue's own repro) -----------

def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ducksync", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def _sql(path: Path, *statements: str) -> list[Any]:
    with duckdb.connect(str(path)) as con:
        out: list[Any] = []
        for s in statements:
            out = con.execute(s).fetchall()
        return out


def test_cli_local_drop_stops_then_pull_restores_then_drop_everywhere(tmp_path: Path) -> None:
    local, remote = tmp_path / "l.duckdb", tmp_path / "r.duckdb"
    _sql(local, "CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR)",
         "INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    assert _cli("sync", str(local), str(remote)).returncode == 0
    _sql(local, "DROP TABLE t")
    stopped = _cli("sync", str(local), str(remote))
    assert stopped.returncode == 1, stopped.stderr
    assert "t: FAILED TableDroppedError" in stopped.stdout and "dropped locally" in stopped.stdout
    assert "Traceback" not in stopped.stdout + stopped.stderr
    assert _sql(remote, "SELECT count(*) FROM t") == [(2,)]
    report = json.loads(_cli("sync", str(local), str(remote), "--json").stdout)
    assert report["tables"][0]["dropped_on"] == "local" and not report["converged"]
    restored = _cli("pull", str(local), str(remote), "--table", "t")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert _sql(local, "SELECT * FROM t ORDER BY id") == [(1, "a"), (2, "b")]
    refused = _cli("drop", str(local), str(remote), "t")  # --everywhere is required
    assert refused.returncode == 2 and "--everywhere" in refused.stderr
    assert _sql(remote, "SELECT count(*) FROM t") == [(2,)]
    dropped = _cli("drop", str(local), str(remote), "t", "--everywhere")
    assert dropped.returncode == 0 and "local and remote" in dropped.stderr
    gone = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 't'"
    assert _sql(local, gone) == _sql(remote, gone) == [(0,)]


def test_cli_mass_delete_exits_1_until_allowed(tmp_path: Path) -> None:
    local, remote = tmp_path / "l.duckdb", tmp_path / "r.duckdb"
    _sql(local, "CREATE TABLE t (id INTEGER PRIMARY KEY)",
         "INSERT INTO t SELECT * FROM range(1500)")
    assert _cli("sync", str(local), str(remote)).returncode == 0
    _sql(local, "DELETE FROM t")
    stopped = _cli("sync", str(local), str(remote))
    assert stopped.returncode == 1
    assert "MassDeleteError" in stopped.stdout and "1500 of 1500" in stopped.stdout
    assert "--allow-mass-delete" in stopped.stdout
    assert _sql(remote, "SELECT count(*) FROM t") == [(1500,)]
    allowed = _cli("sync", str(local), str(remote), "--allow-mass-delete")
    assert allowed.returncode == 0, allowed.stdout
    assert _sql(remote, "SELECT count(*) FROM t") == [(0,)]


def test_cli_dropped_column_exits_1_and_keeps_values(tmp_path: Path) -> None:
    local, remote = tmp_path / "l.duckdb", tmp_path / "r.duckdb"
    _sql(local, "CREATE TABLE t (id INTEGER PRIMARY KEY, keepme INTEGER)",
         "INSERT INTO t SELECT i, i FROM range(1000) x(i)")
    assert _cli("sync", str(local), str(remote)).returncode == 0
    _sql(remote, "ALTER TABLE t DROP COLUMN keepme")
    stopped = _cli("sync", str(local), str(remote))
    assert stopped.returncode == 1 and "SchemaMismatchError" in stopped.stdout
    assert "t.keepme was dropped on the remote" in stopped.stdout
    assert _sql(local, "SELECT count(keepme) FROM t") == [(1000,)]
